import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256 } from './hash.js';

describe('sha256', () => {
  it('is the digest createHash gives, for any text', () => {
    for (const text of ['', 'user-1', 'é ü 漢字 🙂', 'x'.repeat(10_000)]) {
      expect(sha256(text, 'base64url')).toBe(createHash('sha256').update(text).digest('base64url'));
      expect(sha256(text, 'hex')).toBe(createHash('sha256').update(text).digest('hex'));
    }
  });
});
