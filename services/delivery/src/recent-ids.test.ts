import { describe, expect, it } from 'vitest';
import { RecentIds } from './recent-ids.js';

describe('RecentIds', () => {
  it('remembers an id for one to two generations, by count and by age', () => {
    let now = 0;
    const ids = new RecentIds(1_000, 2, () => now);
    ids.add('a');
    ids.add('b');
    ids.add('c'); // the first generation is full: a and b become the previous one
    expect(['a', 'b', 'c'].map((id) => ids.has(id))).toEqual([true, true, true]);
    ids.add('d');
    ids.add('e'); // full again: a and b are forgotten
    expect(['a', 'b', 'c', 'd', 'e'].map((id) => ids.has(id))).toEqual([false, false, true, true, true]);
    now = 1_000;
    ids.add('f'); // the generation is old: e becomes the previous one, c and d are forgotten
    expect(['c', 'd', 'e', 'f'].map((id) => ids.has(id))).toEqual([false, false, true, true]);
  });
});
