import { describe, expect, it } from 'vitest';
import { applyUserProperties } from './user-properties.js';

describe('applyUserProperties (Amplitude semantics)', () => {
  it.each([
    ['plain keys are a $set', { a: 1 }, { b: 2, a: 3 }, { a: 3, b: 2 }],
    ['$set', { a: 1 }, { $set: { a: 2, c: 'x' } }, { a: 2, c: 'x' }],
    ['$setOnce keeps an existing value', { a: 1 }, { $setOnce: { a: 2, b: 3 } }, { a: 1, b: 3 }],
    ['$add numbers', { n: 2 }, { $add: { n: 3, m: -1 } }, { n: 5, m: -1 }],
    ['$add numeric strings', { n: '2' }, { $add: { n: '1.5' } }, { n: 3.5 }],
    ['$add ignores non-numbers', { n: 2 }, { $add: { n: 'x' } }, { n: 2 }],
    ['$add to non-numeric counts from 0', { n: 'abc' }, { $add: { n: 4 } }, { n: 4 }],
    ['$append to a list', { l: ['a'] }, { $append: { l: 'b' } }, { l: ['a', 'b'] }],
    ['$append a list', { l: ['a'] }, { $append: { l: ['b', 'c'] } }, { l: ['a', 'b', 'c'] }],
    ['$append to a scalar', { l: 'a' }, { $append: { l: 'b' } }, { l: ['a', 'b'] }],
    ['$append to nothing', {}, { $append: { l: 'b' } }, { l: ['b'] }],
    ['$prepend', { l: ['a'] }, { $prepend: { l: 'z' } }, { l: ['z', 'a'] }],
    ['$preInsert only when missing', { l: ['a', 'b'] }, { $preInsert: { l: ['b', 'c'] } }, { l: ['c', 'a', 'b'] }],
    ['$postInsert only when missing', { l: ['a'] }, { $postInsert: { l: ['a', 'd'] } }, { l: ['a', 'd'] }],
    ['$remove every occurrence', { l: ['a', 'b', 'a'] }, { $remove: { l: 'a' } }, { l: ['b'] }],
    ['$remove objects by value', { l: [{ x: 1 }, { x: 2 }] }, { $remove: { l: { x: 1 } } }, { l: [{ x: 2 }] }],
    ['$remove on a missing key', { a: 1 }, { $remove: { l: 'a' } }, { a: 1 }],
    ['$unset', { a: 1, b: 2 }, { $unset: { a: '-' } }, { b: 2 }],
    ['$clearAll', { a: 1, b: 2 }, { $clearAll: '-' }, {}],
    ['$clearAll then $set', { a: 1 }, { $clearAll: '-', $set: { c: 1 } }, { c: 1 }],
    ['unicode keys and values', {}, { $set: { 'ñame': 'Zoë 😀' } }, { 'ñame': 'Zoë 😀' }],
    [
      'several operations at once (SDK identify body)',
      { company: 'x', employees: 10 },
      {
        $set: { org: 'amp' },
        $setOnce: { initial_org: 'amp' },
        $append: { locations_1: 'ca' },
        $prepend: { locations_2: 'ny' },
        $postInsert: { tasks_1: 'a' },
        $preInsert: { tasks_2: 'b' },
        $remove: { company: 'x' },
        $add: { employees: 1 },
      },
      {
        org: 'amp',
        initial_org: 'amp',
        locations_1: ['ca'],
        locations_2: ['ny'],
        tasks_1: ['a'],
        tasks_2: ['b'],
        company: [],
        employees: 11,
      },
    ],
  ])('%s', (_name, before, ops, after) => {
    const input = structuredClone(before);
    expect(applyUserProperties(input, ops)).toEqual(after);
    expect(input).toEqual(before);
  });

  it('returns the same object when nothing changes', () => {
    const p = { a: 1 };
    expect(applyUserProperties(p, undefined)).toBe(p);
    expect(applyUserProperties(p, {})).toBe(p);
  });

  it('returns the profile itself for a $set (or plain keys) of the values it holds, and a copy otherwise', () => {
    const p = { plan: 'pro', tags: ['a', 'b'], n: 1, gone: null };
    expect(applyUserProperties(p, { $set: { plan: 'pro', tags: ['a', 'b'] } })).toBe(p);
    expect(applyUserProperties(p, { plan: 'pro', n: 1 })).toBe(p);
    expect(applyUserProperties(p, { $set: { plan: 'pro' }, $setOnce: { n: 2 } })).toBe(p);
    // Anything that changes the JSON is applied as before, on a copy.
    const changed: Array<[Record<string, unknown>, Record<string, unknown>]> = [
      [{ $set: { plan: 'free' } }, { ...p, plan: 'free' }],
      [{ $set: { tags: ['b', 'a'] } }, { ...p, tags: ['b', 'a'] }],
      [{ $set: { other: 1 } }, { ...p, other: 1 }],
      [{ n: 2 }, { ...p, n: 2 }],
      [{ $setOnce: { gone: 3 } }, { ...p, gone: 3 }],
      [{ $setOnce: { fresh: 3 } }, { ...p, fresh: 3 }],
      [{ $set: { plan: 'pro' }, $add: { n: 1 } }, { ...p, n: 2 }],
      [{ $set: 'not an object' }, p],
    ];
    for (const [ops, after] of changed) {
      const input = structuredClone(p);
      const out = applyUserProperties(input, ops);
      expect(out).not.toBe(input);
      expect(out).toEqual(after);
      expect(input).toEqual(p);
    }
  });
});
