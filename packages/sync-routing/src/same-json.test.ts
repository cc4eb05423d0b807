import { describe, expect, it } from 'vitest';
import { sameJson } from './same-json.js';

/** A small deterministic generator of JSON-ish values, odd ones included. */
function generator(seed: number) {
  let x = seed;
  const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const pick = <T>(items: T[]): T => items[Math.floor(next() * items.length)]!;
  const value = (depth: number): unknown => {
    const r = next();
    if (depth > 2 || r < 0.55) {
      return pick<unknown>([0, -0, 1, 1.5, '1', '', 'a', 'b', true, false, null, undefined, NaN, Infinity, -Infinity, 10, 'x"y']);
    }
    if (r < 0.75) return Array.from({ length: Math.floor(next() * 3) }, () => value(depth + 1));
    if (r < 0.8) return new Date(0);
    if (r < 0.83) return { toJSON: () => 'a' };
    const out: Record<string, unknown> = {};
    for (let i = Math.floor(next() * 3); i > 0; i--) out[pick(['a', 'b', 'c', '1', '0'])] = value(depth + 1);
    return out;
  };
  return value;
}

/** A deep copy of arrays and plain objects (the rest shared), so equal members are not the same object. */
function copy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copy);
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x)]));
  }
  return v;
}

describe('sameJson', () => {
  it('answers what comparing the JSON strings answers', () => {
    const value = generator(42);
    let equal = 0;
    for (let i = 0; i < 20_000; i++) {
      const a = value(0);
      const b = i % 3 === 0 ? copy(a) : value(0);
      const expected = JSON.stringify(a) === JSON.stringify(b);
      if (expected) equal++;
      expect(sameJson(a, b), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(expected);
    }
    expect(equal).toBeGreaterThan(1000);
  });

  it('tells key order and members left out of JSON apart as JSON does', () => {
    expect(sameJson({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(false);
    expect(sameJson({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(sameJson([undefined], [null])).toBe(true);
    expect(sameJson({ plan: 'pro', n: [1, 2] }, { plan: 'pro', n: [1, 2] })).toBe(true);
    expect(sameJson({ plan: 'pro' }, { plan: 'free' })).toBe(false);
  });
});
