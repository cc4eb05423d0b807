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

/** JSON.parse that answers undefined for anything that is not JSON. */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
