import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UnopenableSecretError, createSecretBox, parseSecretKey } from './secret-box.js';

const hexKey = randomBytes(32).toString('hex');
const newKey = () => randomBytes(32).toString('hex');

describe('secret box', () => {
  it('round-trips and never contains the clear text', () => {
    const box = createSecretBox(hexKey);
    const sealed = box.seal('Basic dGVzdDp0ZXN0');
    expect(sealed).not.toContain('dGVzdDp0ZXN0');
    expect(sealed.startsWith('v1.')).toBe(true);
    expect(box.open(sealed)).toBe('Basic dGVzdDp0ZXN0');
    expect(box.keyOf(sealed)).toBe('current');
    expect(box.hasPreviousKey).toBe(false);
  });

  it('uses a fresh IV for every seal', () => {
    const box = createSecretBox(hexKey);
    expect(box.seal('same')).not.toBe(box.seal('same'));
  });

  it('accepts base64 keys', () => {
    const b64 = randomBytes(32).toString('base64');
    expect(createSecretBox(b64).open(createSecretBox(b64).seal('x'))).toBe('x');
  });

  it('rejects tampered ciphertext and foreign keys', () => {
    const box = createSecretBox(hexKey);
    const sealed = box.seal('secret');
    const parts = sealed.split('.');
    parts[3] = Buffer.from('tampered').toString('base64url');
    expect(() => box.open(parts.join('.'))).toThrow(UnopenableSecretError);
    expect(() => createSecretBox(newKey()).open(sealed)).toThrow(/sealed under another SECRET_KEY/);
    expect(() => box.open('garbage')).toThrow(/not a sealed secret/);
  });

  it.each([
    ['garbage', 'garbage'],
    ['empty', ''],
    ['short tag', (s: string) => s.split('.').map((p, i) => (i === 2 ? p.slice(0, 8) : p)).join('.')],
    ['short iv', (s: string) => s.split('.').map((p, i) => (i === 1 ? p.slice(0, 4) : p)).join('.')],
    ['extra part', (s: string) => `${s}.x`],
    ['other version', (s: string) => s.replace(/^v1/, 'v9')],
  ])('keyOf says no key opens %s, and open throws', (_label, make) => {
    const box = createSecretBox(hexKey);
    const value = typeof make === 'string' ? make : make(box.seal('secret'));
    expect(box.keyOf(value)).toBeUndefined();
    expect(() => box.open(value)).toThrow(UnopenableSecretError);
  });

  describe('rotation', () => {
    it('opens values sealed under the previous key, seals under the new one, and says which is which', () => {
      const oldKey = newKey();
      const before = createSecretBox(oldKey).seal('Basic b2xk');
      const rotating = createSecretBox(newKey(), oldKey);
      expect(rotating.hasPreviousKey).toBe(true);
      expect(rotating.open(before)).toBe('Basic b2xk');
      expect(rotating.keyOf(before)).toBe('previous');
      const resealed = rotating.seal(rotating.open(before));
      expect(rotating.keyOf(resealed)).toBe('current');
      expect(() => createSecretBox(oldKey).open(resealed)).toThrow(UnopenableSecretError);
    });

    it('opens with any of several previous keys and ignores unset ones', () => {
      const [a, b] = [newKey(), newKey()];
      const box = createSecretBox(newKey(), [undefined, '', a, b]);
      expect(box.open(createSecretBox(a).seal('a'))).toBe('a');
      expect(box.open(createSecretBox(b).seal('b'))).toBe('b');
      expect(box.keyOf(createSecretBox(newKey()).seal('c'))).toBeUndefined();
      expect(createSecretBox(hexKey, '').hasPreviousKey).toBe(false);
    });

    it('treats a previous key equal to the current one as no previous key', () => {
      const box = createSecretBox(hexKey, hexKey);
      expect(box.hasPreviousKey).toBe(false);
      expect(box.keyOf(box.seal('x'))).toBe('current');
    });

    it('rejects a malformed previous key', () => {
      expect(() => createSecretBox(hexKey, 'short')).toThrow(/32 bytes/);
    });
  });

  it.each(['', 'short', 'z'.repeat(64), randomBytes(16).toString('hex')])('rejects bad key %j', (k) => {
    expect(() => parseSecretKey(k)).toThrow(/32 bytes/);
  });
});
