import busboy from 'busboy';

const MAX_FIELDS = 16;

/** Fields of an `application/x-www-form-urlencoded` or `multipart/form-data` body. */
export async function readFormFields(
  body: Buffer,
  contentType: string | undefined,
  maxFieldBytes: number,
): Promise<Record<string, string> | undefined> {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded' || type === '') {
    const out: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) out[k] = v;
    return out;
  }
  if (type !== 'multipart/form-data') return undefined;
  return new Promise((resolve) => {
    const out: Record<string, string> = {};
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: { 'content-type': contentType! },
        limits: { fields: MAX_FIELDS, fieldSize: maxFieldBytes, files: 0 },
      });
    } catch {
      resolve(undefined);
      return;
    }
    parser.on('field', (name, value) => {
      out[name] = value;
    });
    parser.on('file', (_name, stream) => stream.resume());
    parser.on('error', () => resolve(undefined));
    parser.on('close', () => resolve(out));
    parser.end(body);
  });
}
