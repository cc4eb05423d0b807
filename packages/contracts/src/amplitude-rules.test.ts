import { describe, expect, it } from 'vitest';
import { isRejectedId, userPropertiesValid } from './amplitude-rules.js';

/** The rule as first written: every id lowercased and looked up. */
const REFUSED = ['anonymous', 'nil', 'none', 'null', 'n/a', 'na', 'undefined', 'unknown', '', '00000000-0000-0000-0000-000000000000', '{}', 'lmy47d', '0', '-1'];
const referenceIsRejected = (id: string) => REFUSED.includes(id.toLowerCase());

describe('isRejectedId', () => {
  it.each([
    ['null', true],
    ['NULL', true],
    ['Anonymous', true],
    ['N/A', true],
    ['LMY47D', true],
    ['00000000-0000-0000-0000-000000000000', true],
    ['-1', true],
    ['', true],
    // Kelvin sign (U+212A) lowercases to `k`, keeping the length: still refused.
    ['UN\u212ANOWN', true],
    // U+0130 (İ) lowercases to `i` and a combining dot: a different string, not refused.
    ['N\u0130L', false],
    ['nulls', false],
    ['user-12345', false],
    ['00000000-0000-0000-0000-000000000001', false],
    ['bench-device-1-7f3a9c2e', false],
  ])('%j → %s', (id, refused) => {
    expect(isRejectedId(id)).toBe(refused);
    expect(referenceIsRejected(id)).toBe(refused);
  });

  it('agrees with lowercasing every id, for every casing of the refused ids and ids of other lengths', () => {
    const casings = (s: string): string[] =>
      s.length === 0 ? [''] : casings(s.slice(1)).flatMap((rest) => [s[0]!.toLowerCase() + rest, s[0]!.toUpperCase() + rest]);
    const ids = REFUSED.filter((id) => id.length <= 9).flatMap(casings);
    ids.push(...REFUSED.map((id) => `${id}x`), ...REFUSED.map((id) => id.slice(1)), 'ÄNONYMOUS', 'nuLL\u0000', 'x'.repeat(36));
    for (const id of ids) expect(isRejectedId(id), JSON.stringify(id)).toBe(referenceIsRejected(id));
  });
});

describe('userPropertiesValid', () => {
  it.each([
    [{}, true],
    [{ plan: 'pro', n: 1 }, true],
    [{ $set: { plan: 'pro' }, $add: { n: 1 } }, true],
    [{ $clearAll: '-' }, true],
    [{ $set: { plan: 'pro' }, plan: 'free' }, false],
    [{ $set: 'pro' }, false],
    [{ $unset: ['x'] }, false],
    [{ $add: null }, false],
  ])('%j → %s', (value, valid) => {
    expect(userPropertiesValid(value as Record<string, unknown>)).toBe(valid);
  });
});
