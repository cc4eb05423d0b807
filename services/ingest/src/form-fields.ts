import busboy from 'busboy';
import { decodeUtf8 } from './request-body.js';

const MAX_FIELDS = 16;

export type FormFields = Map<string, string>;

/**
 * What a `/identify` body holds: its fields, or why there are none. `unsupported`: not a form
 * content type (415); `malformed`: a form that cannot be read (bad percent-encoding, invalid
 * UTF-8, broken multipart), which the Identify API answers like a missing identification.
 */
export type FormReadResult = { kind: 'fields'; fields: FormFields } | { kind: 'unsupported' } | { kind: 'malformed' };

const malformed: FormReadResult = { kind: 'malformed' };

/** Fields of an `application/x-www-form-urlencoded` (also when untyped) or `multipart/form-data` body. */
export async function readFormFields(body: Buffer, contentType: string | undefined, maxFieldBytes: number): Promise<FormReadResult> {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const urlEncoded = type === 'application/x-www-form-urlencoded' || type === '';
  if (!urlEncoded && type !== 'multipart/form-data') return { kind: 'unsupported' };
  // Both forms carry only text fields here (file parts are ignored), so the whole body must be
  // UTF-8: decoding leniently would store U+FFFD in place of what the client sent.
  const text = decodeUtf8(body);
  if (text === undefined) return malformed;
  return urlEncoded ? readUrlEncoded(text) : readMultipart(body, contentType!, maxFieldBytes);
}

/**
 * Strict urlencoded parsing: URLSearchParams would silently turn bad percent-escapes and
 * percent-encoded invalid UTF-8 into U+FFFD.
 */
function readUrlEncoded(text: string): FormReadResult {
  const fields: FormFields = new Map();
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    const rawValue = eq === -1 ? '' : pair.slice(eq + 1);
    try {
      fields.set(decodeURIComponent(rawName.replace(/\+/g, ' ')), decodeURIComponent(rawValue.replace(/\+/g, ' ')));
    } catch {
      return malformed;
    }
  }
  return { kind: 'fields', fields };
}

function readMultipart(body: Buffer, contentType: string, maxFieldBytes: number): Promise<FormReadResult> {
  return new Promise((resolve) => {
    const fields: FormFields = new Map();
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: { 'content-type': contentType },
        limits: { fields: MAX_FIELDS, fieldSize: maxFieldBytes, files: 0, parts: MAX_FIELDS },
      });
    } catch {
      // No or a bad boundary.
      resolve(malformed);
      return;
    }
    parser.on('field', (name, value, info) => {
      // A truncated value would be a corrupted identification.
      if (info.valueTruncated || info.nameTruncated) {
        resolve(malformed);
        return;
      }
      fields.set(name, value);
    });
    parser.on('file', (_name, stream) => stream.resume());
    parser.on('error', () => resolve(malformed));
    parser.on('close', () => resolve({ kind: 'fields', fields }));
    parser.end(body);
  });
}
