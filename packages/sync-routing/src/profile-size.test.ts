import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compactIdentified, emptyProfile, forgetIdentifies, identifyFingerprint, identifyFingerprintOfJson, type ProfileEntry } from './profile.js';
import { boundProfile } from './profile-size.js';

const profile = (properties: Record<string, unknown>, identified: Record<string, string> = {}): ProfileEntry => ({
  ...emptyProfile(),
  userId: 'user-12345',
  lastSeq: 9,
  properties,
  identified,
});
const bytesOf = (p: ProfileEntry) => Buffer.byteLength(JSON.stringify(p));
const big = (n: number) => 'x'.repeat(n);

describe('boundProfile', () => {
  it.each<[string, Record<string, unknown>, number, string[]]>([
    ['a profile that fits is kept whole', { email: 'a@example.com', plan: 'pro' }, 1_000, []],
    ['the largest property goes first', { email: 'a@example.com', essay: big(2_000), bio: big(500) }, 1_000, ['essay']],
    ['then the next largest, until it fits', { a: big(400), b: big(300), c: big(200), d: 'keep' }, 400, ['a', 'b']],
    ['ties are broken by name', { b: big(300), a: big(300), c: 'keep' }, 450, ['a']],
    ['sizes count the key too', { [big(300)]: 1, short: big(200) }, 400, [big(300)]],
    ['multi-byte characters count as bytes', { e: 'é'.repeat(300), a: big(400) }, 500, ['e']],
    ['nested values count whole', { list: Array.from({ length: 100 }, (_, i) => i), n: 1 }, 200, ['list']],
    ['everything, when nothing smaller fits', { a: big(100), b: big(100) }, 100, ['a', 'b']],
  ])('%s', (_name, properties, maxBytes, dropped) => {
    const before = profile(properties);
    const bounded = boundProfile(before, maxBytes);
    expect(bounded.droppedTraits).toEqual(dropped);
    expect(bounded.bytes).toBe(bytesOf(bounded.profile));
    expect(bounded.serialized).toBe(JSON.stringify(bounded.profile));
    if (bytesOf(before) > maxBytes) expect(bounded.bytes).toBeLessThanOrEqual(maxBytes);
    expect(Object.keys(bounded.profile.properties).sort()).toEqual(Object.keys(properties).filter((k) => !dropped.includes(k)).sort());
    // The input is never changed.
    expect(before.properties).toEqual(properties);
  });

  it('forgets the identify fingerprints only when the properties alone cannot make room', () => {
    const identified = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`sync-${i}`, identifyFingerprint('u', undefined, { i })]));
    const bounded = boundProfile(profile({ a: 1 }, identified), 200);
    expect(bounded.droppedTraits).toEqual(['a']);
    expect(bounded.forgotIdentified).toBe(true);
    expect(bounded.profile.identified).toEqual({});
    expect(bounded.bytes).toBeLessThanOrEqual(200);
    expect(boundProfile(profile({ a: big(2_000) }, identified), 2_000).forgotIdentified).toBe(false);
  });

  it('returns the same object when nothing is dropped', () => {
    const p = profile({ a: 1 });
    expect(boundProfile(p, 10_000).profile).toBe(p);
  });
});

describe('identify fingerprints', () => {
  it('is a short hash whatever the traits weigh', () => {
    const fp = identifyFingerprint('user-12345', undefined, { essay: big(300_000) });
    expect(fp).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fp).not.toBe(identifyFingerprint('user-12345', undefined, { essay: big(300_001) }));
    expect(fp).not.toBe(identifyFingerprint('user-12345', 'device-1', { essay: big(300_000) }));
  });
  it('is the hash of the JSON of the pairing and traits, written from pieces', () => {
    const cases: Array<[string | undefined, string | undefined, Record<string, unknown> | undefined]> = [
      ['u-12345', undefined, { plan: 'pro', '2': [1, null], q: 'é "\u2028' }],
      [undefined, 'd "1"', undefined],
      [undefined, undefined, {}],
    ];
    for (const [userId, deviceId, traits] of cases) {
      const json = JSON.stringify([userId ?? null, deviceId ?? null, traits ?? null]);
      expect(identifyFingerprint(userId, deviceId, traits)).toBe(createHash('sha256').update(json).digest('base64url'));
      expect(identifyFingerprintOfJson(userId, deviceId, traits === undefined ? undefined : JSON.stringify(traits))).toBe(identifyFingerprint(userId, deviceId, traits));
    }
  });
  it('converts the JSON form profiles held before into the same hash', () => {
    const traits = { plan: 'pro', essay: big(10_000) };
    const old = { s1: JSON.stringify(['u-12345', 'd-1', traits]), s2: identifyFingerprint('u-12345', undefined, { plan: 'x' }) };
    expect(compactIdentified(old)).toEqual({ s1: identifyFingerprint('u-12345', 'd-1', traits), s2: old.s2 });
    expect(old.s1.startsWith('[')).toBe(true);
    const current = { s2: old.s2 };
    expect(compactIdentified(current)).toBe(current);
  });
});

describe('forgetIdentifies', () => {
  it('puts back the fingerprints the profile held before, only for the syncs named', () => {
    const before = profile({}, { s1: 'old-1' });
    const after = profile({ a: 1 }, { s1: 'new-1', s2: 'new-2', s3: 'new-3' });
    expect(forgetIdentifies(after, before, ['s1', 's2']).identified).toEqual({ s1: 'old-1', s3: 'new-3' });
    expect(after.identified).toEqual({ s1: 'new-1', s2: 'new-2', s3: 'new-3' });
    expect(forgetIdentifies(after, before, [])).toBe(after);
  });
});
