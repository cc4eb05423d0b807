import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecretBox, parseSecretKey } from './secret-box.js';

const hexKey = randomBytes(32).toString('hex');

describe('secret box', () => {
  it('round-trips and never contains the clear text', () => {
    const box = createSecretBox(hexKey);
    const sealed = box.seal('Basic dGVzdDp0ZXN0');
    expect(sealed).not.toContain('dGVzdDp0ZXN0');
    expect(sealed.startsWith('v1.')).toBe(true);
    expect(box.open(sealed)).toBe('Basic dGVzdDp0ZXN0');
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
    expect(() => box.open(parts.join('.'))).toThrow();
    expect(() => createSecretBox(randomBytes(32).toString('hex')).open(sealed)).toThrow();
    expect(() => box.open('garbage')).toThrow(/not a sealed secret/);
  });

  it.each(['', 'short', 'z'.repeat(64), randomBytes(16).toString('hex')])('rejects bad key %j', (k) => {
    expect(() => parseSecretKey(k)).toThrow(/32 bytes/);
  });
});
