import { describe, expect, it } from 'vitest';
import { emptyProfile } from '@inkstream/sync-routing';
import { ProfileCache } from './profile-cache.js';

type Step = ['set', string, number] | ['get', string];

describe('ProfileCache', () => {
  it.each<[string, { maxEntries: number; maxBytes: number }, Step[], string[], number]>([
    ['keeps what fits', { maxEntries: 10, maxBytes: 1_000 }, [['set', 'a', 100], ['set', 'b', 100]], ['a', 'b'], 200],
    ['evicts the least recently used past the byte budget', { maxEntries: 10, maxBytes: 1_000 }, [['set', 'a', 200], ['set', 'b', 200], ['set', 'c', 200], ['set', 'd', 200], ['set', 'e', 200], ['set', 'f', 200]], ['b', 'c', 'd', 'e', 'f'], 1_000],
    ['a read makes an entry recent', { maxEntries: 10, maxBytes: 1_000 }, [['set', 'a', 250], ['set', 'b', 250], ['set', 'c', 250], ['get', 'a'], ['set', 'd', 250], ['set', 'e', 250]], ['c', 'a', 'd', 'e'], 1_000],
    ['evicts past the entry count', { maxEntries: 2, maxBytes: 1_000 }, [['set', 'a', 1], ['set', 'b', 1], ['set', 'c', 1]], ['b', 'c'], 2],
    ['replacing an entry counts its new size only', { maxEntries: 10, maxBytes: 1_000 }, [['set', 'a', 200], ['set', 'a', 50]], ['a'], 50],
    ['does not keep a profile over a quarter of the budget', { maxEntries: 10, maxBytes: 1_000 }, [['set', 'a', 100], ['set', 'big', 251]], ['a'], 100],
    ['a profile that grew too large is forgotten', { maxEntries: 10, maxBytes: 1_000 }, [['set', 'a', 100], ['set', 'a', 300]], [], 0],
    ['size 0 keeps nothing', { maxEntries: 0, maxBytes: 1_000 }, [['set', 'a', 1]], [], 0],
  ])('%s', (_name, limits, steps, keys, bytes) => {
    const cache = new ProfileCache(limits);
    for (const step of steps) {
      if (step[0] === 'set') cache.set(step[1], emptyProfile(), step[2]);
      else cache.get(step[1]);
    }
    expect(cache.keys()).toEqual(keys);
    expect(cache.bytes).toBe(bytes);
    expect(cache.size).toBe(keys.length);
  });

  it('clear empties it', () => {
    const cache = new ProfileCache({ maxEntries: 10, maxBytes: 1_000 });
    cache.set('a', emptyProfile(), 10);
    cache.clear();
    expect([cache.size, cache.bytes, cache.get('a')]).toEqual([0, 0, undefined]);
  });

  it('keeps the revision and partition of each profile, and forgets one partition only', () => {
    const cache = new ProfileCache({ maxEntries: 10, maxBytes: 1_000 });
    cache.set('a', emptyProfile(), 10, 7, 3);
    cache.set('b', emptyProfile(), 20, 8, 4);
    cache.set('c', emptyProfile(), 30, 9, 3);
    expect(cache.entry('b')).toMatchObject({ revision: 8, partition: 4, bytes: 20 });
    expect(cache.forgetPartition(3)).toBe(2);
    expect([cache.keys(), cache.bytes]).toEqual([['b'], 20]);
  });
});
