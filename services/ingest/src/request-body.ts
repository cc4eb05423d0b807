import { promisify } from 'node:util';
import { gunzip, inflate, brotliDecompress } from 'node:zlib';

const decoders: Record<string, (buf: Buffer, opts: { maxOutputLength: number }) => Promise<Buffer>> = {
  gzip: promisify(gunzip) as never,
  'x-gzip': promisify(gunzip) as never,
  deflate: promisify(inflate) as never,
  br: promisify(brotliDecompress) as never,
};

export class BodyTooLargeError extends Error {}
export class UnsupportedEncodingError extends Error {}
export class CorruptBodyError extends Error {}

/**
 * The request body as bytes after Content-Encoding is undone, refusing to inflate past
 * `maxBytes` (so a small gzip bomb cannot exhaust memory).
 */
export async function decodeBody(raw: Buffer, contentEncoding: string | undefined, maxBytes: number): Promise<Buffer> {
  const encoding = (contentEncoding ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') {
    if (raw.length > maxBytes) throw new BodyTooLargeError();
    return raw;
  }
  const decode = decoders[encoding];
  if (!decode) throw new UnsupportedEncodingError(encoding);
  try {
    return await decode(raw, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new BodyTooLargeError();
    }
    throw new CorruptBodyError((err as Error).message);
  }
}

// Fatal: JSON text must be UTF-8 (RFC 8259). Decoding leniently would replace bad bytes with
// U+FFFD and store altered data under a 200. A leading BOM is tolerated and dropped.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The body as UTF-8 text, or undefined when it is not valid UTF-8. */
export function decodeUtf8(body: Uint8Array): string | undefined {
  try {
    return utf8.decode(body);
  } catch {
    return undefined;
  }
}

/**
 * JSON.parse that answers undefined for anything that is not JSON in UTF-8. V8's parser is
 * iterative, so arbitrarily deep nesting cannot overflow the stack here; depth is bounded
 * per event by the validation.
 */
export function parseJson(body: Uint8Array): unknown {
  const text = decodeUtf8(body);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
