import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 'v1';

/**
 * AES-256-GCM under SECRET_KEY. A sealed value is `v1.<iv>.<tag>.<ciphertext>` (base64url),
 * self-describing so the key or algorithm can be rotated later.
 */
export interface SecretBox {
  seal(plaintext: string): string;
  open(sealed: string): string;
}

/** Reads a 32-byte key given as 64 hex characters or as base64 / base64url. */
export function parseSecretKey(value: string): Buffer {
  const v = value.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(v)) key = Buffer.from(v, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(v)) key = Buffer.from(v, 'base64');
  if (!key || key.length !== 32) {
    throw new Error('SECRET_KEY must be 32 bytes, written as 64 hex characters or 44 base64 characters');
  }
  return key;
}

/** For environment checks: why a SECRET_KEY value is unusable, or undefined when it is fine. */
export function secretKeyProblem(value: string): string | undefined {
  try {
    parseSecretKey(value);
    return undefined;
  } catch (err) {
    return (err as Error).message.replace(/^SECRET_KEY\s+/, '');
  }
}

export function createSecretBox(secretKey: string): SecretBox {
  const key = parseSecretKey(secretKey);
  return {
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join('.');
    },
    open(sealed) {
      const [version, iv, tag, ciphertext] = sealed.split('.');
      if (version !== VERSION || iv === undefined || tag === undefined || ciphertext === undefined) {
        throw new Error('not a sealed secret');
      }
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}
