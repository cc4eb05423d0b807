import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 'v1';

/** Which of the box's keys opens a sealed value. */
export type SealingKey = 'current' | 'previous';

/**
 * AES-256-GCM under SECRET_KEY. A sealed value is `v1.<iv>.<tag>.<ciphertext>` (base64url).
 * GCM authenticates: a value opens under the key that sealed it and under no other, so trying
 * the keys in turn tells which one sealed it. That is how rotation works: with
 * SECRET_KEY_PREVIOUS set, `open` reads values sealed under either key, `seal` always uses
 * SECRET_KEY, and the config service re-seals what `keyOf` says is still under the previous key.
 */
export interface SecretBox {
  seal(plaintext: string): string;
  /** The plaintext, opened with the current key or else a previous one; UnopenableSecretError if neither. */
  open(sealed: string): string;
  /** The key that opens the value, or undefined when none does (another key, or damaged data). */
  keyOf(sealed: string): SealingKey | undefined;
  /** Whether previous keys were given (a rotation is under way). */
  readonly hasPreviousKey: boolean;
}

/** A sealed value that none of the box's keys opens. */
export class UnopenableSecretError extends Error {
  override readonly name = 'UnopenableSecretError';
  constructor(reason: 'not sealed' | 'other key') {
    super(
      reason === 'not sealed'
        ? 'not a sealed secret'
        : 'the secret was sealed under another SECRET_KEY (or is damaged): it cannot be opened with SECRET_KEY or SECRET_KEY_PREVIOUS',
    );
  }
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

/**
 * A box sealing with `secretKey` and opening with it or with any of `previousKeys` (each in the
 * same notation; empty strings and undefined are ignored, so an unset variable can be passed).
 */
export function createSecretBox(secretKey: string, previousKeys: ReadonlyArray<string | undefined> | string = []): SecretBox {
  const key = parseSecretKey(secretKey);
  const previous = (typeof previousKeys === 'string' ? [previousKeys] : previousKeys)
    .filter((k): k is string => typeof k === 'string' && k.trim() !== '')
    .map(parseSecretKey)
    .filter((k) => !k.equals(key));

  const tryOpen = (candidate: Buffer, parts: SealedParts): string | undefined => {
    try {
      const decipher = createDecipheriv('aes-256-gcm', candidate, parts.iv);
      decipher.setAuthTag(parts.tag);
      return Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  };
  const openWith = (sealed: string): { plaintext: string; key: SealingKey } | undefined => {
    const parts = partsOf(sealed);
    const current = tryOpen(key, parts);
    if (current !== undefined) return { plaintext: current, key: 'current' };
    for (const candidate of previous) {
      const plaintext = tryOpen(candidate, parts);
      if (plaintext !== undefined) return { plaintext, key: 'previous' };
    }
    return undefined;
  };

  return {
    hasPreviousKey: previous.length > 0,
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join('.');
    },
    open(sealed) {
      const opened = openWith(sealed);
      if (!opened) throw new UnopenableSecretError('other key');
      return opened.plaintext;
    },
    keyOf(sealed) {
      try {
        return openWith(sealed)?.key;
      } catch {
        return undefined;
      }
    },
  };
}

interface SealedParts {
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

function partsOf(sealed: string): SealedParts {
  const [version, iv, tag, ciphertext, extra] = sealed.split('.');
  if (version !== VERSION || !iv || !tag || ciphertext === undefined || extra !== undefined) {
    throw new UnopenableSecretError('not sealed');
  }
  const parts = { iv: Buffer.from(iv, 'base64url'), tag: Buffer.from(tag, 'base64url'), ciphertext: Buffer.from(ciphertext, 'base64url') };
  // GCM takes any IV length and short tags; only what `seal` writes is a sealed secret.
  if (parts.iv.length !== 12 || parts.tag.length !== 16) throw new UnopenableSecretError('not sealed');
  return parts;
}
