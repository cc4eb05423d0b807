import * as crypto from 'node:crypto';

type Encoding = 'base64url' | 'hex';

/** `crypto.hash` (Node ≥ 20.12): one call, no Hash object per digest. */
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: Encoding) => string }).hash;

/**
 * SHA-256 of a string (UTF-8), encoded: the same digest as `createHash('sha256')`, without a
 * Hash object per call where the runtime has `crypto.hash`. The filter hashes several keys per
 * record (profile key, processed mark, identify fingerprints).
 */
export const sha256: (text: string, encoding: Encoding) => string = oneShot
  ? (text, encoding) => oneShot('sha256', text, encoding)
  : (text, encoding) => crypto.createHash('sha256').update(text).digest(encoding);
