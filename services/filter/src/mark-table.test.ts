import { describe, expect, it } from 'vitest';
import { MarkTable } from './mark-table.js';
import { processedMark } from './processed-keys.js';

const mark = (i: number) => processedMark(`lane\u0000e${i}`);
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A reference model: the Map the table replaces (insertion ordered, first time kept). */
class MapModel {
  readonly done = new Map<string, number>();
  add(m: string, at: number): boolean {
    if (this.done.has(m)) return false;
    this.done.set(m, at);
    return true;
  }
  trim(oldest: number, max: number): number {
    let over = this.done.size - max;
    let removed = 0;
    for (const [m, at] of this.done) {
      if (at >= oldest && over <= 0) break;
      this.done.delete(m);
      over--;
      removed++;
    }
    return removed;
  }
}

/** A small deterministic generator (tests repeat). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('MarkTable', () => {
  it('holds marks with the second they were written, once each, and knows no others', () => {
    const t = new MarkTable();
    expect(t.add(mark(1), 100)).toBe(true);
    expect(t.add(mark(2), 101)).toBe(true);
    expect(t.writtenAt(mark(1))).toBe(100);
    expect(t.writtenAt(mark(2))).toBe(101);
    expect(t.writtenAt(mark(3))).toBe(-1);
    expect(t.has(mark(3))).toBe(false);
    // A mark present twice: the second add changes nothing (its first time and place stay).
    expect(t.add(mark(1), 200)).toBe(false);
    expect(t.writtenAt(mark(1))).toBe(100);
    expect(t.size).toBe(2);
    expect(t.trim(0, 1)).toBe(1);
    expect(t.has(mark(1))).toBe(false);
    expect(t.has(mark(2))).toBe(true);
  });

  it('tells marks apart by all 96 bits: marks that differ in one character, or only in the last', () => {
    const t = new MarkTable();
    const base = 'AAAAAAAAAAAAAAAA';
    const variants = [base];
    for (let pos = 0; pos < 16; pos++) {
      for (const c of ['B', '_', '-', 'z', '9']) variants.push(base.slice(0, pos) + c + base.slice(pos + 1));
    }
    variants.forEach((v, i) => expect(t.add(v, i)).toBe(true));
    variants.forEach((v, i) => expect(t.writtenAt(v)).toBe(i));
    expect(t.size).toBe(variants.length);
  });

  it('holds strings that are not marks (other lengths, other characters) as marks of their own', () => {
    const t = new MarkTable();
    const names = ['markA', 'markB', '', 'x'.repeat(40), 'AAAAAAAAAAAAAAA=', 'AAAAAAAAAAAAAAA+', 'AAAAAAAAAAAAAAAé', 'AAAAAAAAAAAAAAAA'];
    names.forEach((n, i) => expect(t.add(n, i)).toBe(true));
    names.forEach((n, i) => expect(t.writtenAt(n)).toBe(i));
    expect(t.has('markC')).toBe(false);
  });

  it('finds marks through collisions: marks sharing their index slot, in a probe run that wraps the index end', () => {
    // Marks that differ only in their last two characters' low bits (characters 14, and 15's low
    // 2 bits: k2's low 8 bits) share k0 and k1, so their home slot, and the bits of k2 the index
    // keeps, so the full compare decides.
    const same = Array.from({ length: 64 }, (_, i) => `AAAAAAAAAAAAAA${ALPHABET[i >> 2]}${ALPHABET[i & 3]}`);
    // A seed that puts their home slot 20 before the end of the index: the run wraps to slot 0.
    const probe = new MarkTable() as unknown as { home(w0: number, w1: number): number; indexMask: number; seed: number };
    let seed = 0;
    for (; ; seed++) {
      probe.seed = seed;
      if (probe.home(0, 0) === probe.indexMask - 20) break;
    }
    const t = new MarkTable({ seed });
    same.forEach((m, i) => t.add(m, i));
    // And marks elsewhere, some of whose home slots the run covers (they land after it).
    for (let i = 0; i < 200; i++) t.add(mark(i), 7);
    same.forEach((m, i) => expect(t.writtenAt(m)).toBe(i));
    // Forgetting part of the run (the oldest 24) keeps the rest findable (backward-shift deletion).
    expect(t.trim(0, 240)).toBe(24);
    same.forEach((m, i) => expect(t.writtenAt(m)).toBe(i < 24 ? -1 : i));
    for (let i = 0; i < 24; i++) expect(t.add(same[i]!, 1000 + i)).toBe(true);
    same.forEach((m, i) => expect(t.writtenAt(m)).toBe(i < 24 ? 1000 + i : i));
    for (let i = 0; i < 200; i++) expect(t.writtenAt(mark(i))).toBe(7);
  });

  it('trims by age from the oldest, and stops at the first mark young enough and within the bound', () => {
    const t = new MarkTable();
    for (let i = 0; i < 10; i++) t.add(mark(i), 100 + i);
    expect(t.trim(105, 100)).toBe(5);
    expect(t.size).toBe(5);
    expect(t.has(mark(4))).toBe(false);
    expect(t.writtenAt(mark(5))).toBe(105);
    // An older mark behind a younger one stays (the order is the order of adding).
    t.add(mark(100), 50);
    expect(t.trim(106, 100)).toBe(1);
    expect(t.writtenAt(mark(100))).toBe(50);
    // By bound: the oldest over it go, whatever their age.
    expect(t.trim(0, 2)).toBe(3);
    expect([...Array(10).keys()].filter((i) => t.has(mark(i)))).toEqual([9]);
    expect(t.has(mark(100))).toBe(true);
  });

  it('a mark trimmed and added again is held as new: its new time, at the young end', () => {
    const t = new MarkTable();
    for (let i = 0; i < 5; i++) t.add(mark(i), 10);
    t.trim(0, 4);
    expect(t.has(mark(0))).toBe(false);
    expect(t.add(mark(0), 20)).toBe(true);
    expect(t.writtenAt(mark(0))).toBe(20);
    // Now the oldest is mark 1: trimming one more forgets it, not mark 0.
    t.trim(0, 4);
    expect(t.has(mark(1))).toBe(false);
    expect(t.has(mark(0))).toBe(true);
  });

  it('wraps its ring around many times at a steady size without growing', () => {
    const t = new MarkTable();
    const cap = t.capacity;
    const keep = cap - 24;
    for (let i = 0; i < cap * 10; i++) {
      t.add(mark(i), i);
      t.trim(0, keep);
    }
    expect(t.capacity).toBe(cap);
    expect(t.size).toBe(keep);
    const last = cap * 10 - 1;
    expect(t.writtenAt(mark(last))).toBe(last);
    expect(t.writtenAt(mark(last - keep + 1))).toBe(last - keep + 1);
    expect(t.has(mark(last - keep))).toBe(false);
    // Trimmed by age across the wrap point.
    expect(t.trim(last - 9, keep)).toBe(keep - 10);
    expect(t.size).toBe(10);
    expect(t.writtenAt(mark(last - 9))).toBe(last - 9);
  });

  it('grows past its capacity with the ring wrapped (oldest first kept), and shrinks once mostly empty', () => {
    const t = new MarkTable();
    const cap = t.capacity;
    // Move the ring's head first, so growth copies a ring that wraps.
    for (let i = 0; i < cap / 2; i++) t.add(mark(-1 - i), 0);
    t.trim(0, 10);
    for (let i = 0; i < cap * 3; i++) t.add(mark(i), 1 + i);
    expect(t.capacity).toBe(cap * 4);
    expect(t.size).toBe(cap * 3 + 10);
    for (let i = 0; i < 10; i++) expect(t.writtenAt(mark(-cap / 2 + i))).toBe(0);
    for (let i = 0; i < cap * 3; i += 7) expect(t.writtenAt(mark(i))).toBe(1 + i);
    // Oldest first still: trimming to the bound keeps the newest.
    t.trim(0, 100);
    expect(t.size).toBe(100);
    expect(t.capacity).toBe(cap);
    expect(t.has(mark(cap * 3 - 101))).toBe(false);
    for (let i = cap * 3 - 100; i < cap * 3; i++) expect(t.writtenAt(mark(i))).toBe(1 + i);
    t.trim(Infinity, Infinity);
    expect(t.size).toBe(0);
    expect(t.add(mark(5), 5)).toBe(true);
    expect(t.writtenAt(mark(5))).toBe(5);
  });

  it('matches the Map it replaces over a random mix of adds, repeats, lookups and trims', () => {
    for (const seed of [1, 2, 3]) {
      const random = rng(seed);
      const t = new MarkTable();
      const model = new MapModel();
      let now = 1_000;
      for (let step = 0; step < 30_000; step++) {
        const r = random();
        if (r < 0.6) {
          // New marks mostly, some repeats of recent or long gone ones.
          const m = mark(random() < 0.8 ? step : Math.floor(random() * step));
          expect(t.add(m, now)).toBe(model.add(m, now));
        } else if (r < 0.9) {
          const m = mark(Math.floor(random() * (step + 1)));
          expect(t.writtenAt(m)).toBe(model.done.get(m) ?? -1);
        } else if (r < 0.995) {
          const max = 1 + Math.floor(random() * 5_000);
          expect(t.trim(now - 200, max)).toBe(model.trim(now - 200, max));
        } else {
          now += Math.floor(random() * 50);
        }
        if (r < 0.01) {
          // Now and then a mark written earlier than the last (as read back from the stream).
          const m = mark(-step);
          expect(t.add(m, now - 300)).toBe(model.add(m, now - 300));
        }
      }
      expect(t.size).toBe(model.done.size);
      for (const [m, at] of model.done) expect(t.writtenAt(m)).toBe(at);
    }
  });
});
