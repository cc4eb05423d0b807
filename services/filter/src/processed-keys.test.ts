import { describe, expect, it } from 'vitest';
import { emptyProfile } from '@inkstream/sync-routing';
import {
  PROCESSED_KEYS_MAX_BYTES,
  PROCESSED_KEYS_PER_USER,
  RECORDS_PER_MESSAGE,
  positionedProfile,
  processedMark,
  remember,
  rememberAllForSave,
  rememberForSave,
  rememberProcessed,
  wasProcessed,
} from './processed-keys.js';

const WINDOW = 600_000;
const T0 = Date.parse('2026-12-02T12:00:00Z');

describe('processed keys', () => {
  it('remembers a key for the dedup window, then forgets it', () => {
    const mark = processedMark('i:abc');
    const seen = rememberProcessed(undefined, mark, T0, WINDOW);
    expect(wasProcessed(seen, mark, T0 + 1000, WINDOW)).toBe(true);
    expect(wasProcessed(seen, processedMark('i:other'), T0 + 1000, WINDOW)).toBe(false);
    expect(wasProcessed(seen, mark, T0 + WINDOW + 1000, WINDOW)).toBe(false);
    // Remembering another one later drops what fell out of the window.
    const later = rememberProcessed(seen, processedMark('i:next'), T0 + WINDOW + 2000, WINDOW);
    expect(Object.keys(later)).toEqual([processedMark('i:next')]);
  });

  it(`keeps at most ${PROCESSED_KEYS_PER_USER} keys, the newest, within PROCESSED_KEYS_MAX_BYTES of JSON`, () => {
    let seen: Record<string, number> | undefined;
    const marks: string[] = [];
    for (let i = 0; i < PROCESSED_KEYS_PER_USER + 50; i++) {
      const mark = processedMark(`i:event-${i}`);
      marks.push(mark);
      seen = rememberProcessed(seen, mark, T0 + i * 1000, WINDOW * 10);
    }
    expect(Object.keys(seen!)).toHaveLength(PROCESSED_KEYS_PER_USER);
    expect(wasProcessed(seen, marks.at(-1)!, T0 + 600_000, WINDOW * 10)).toBe(true);
    expect(wasProcessed(seen, marks[0]!, T0 + 600_000, WINDOW * 10)).toBe(false);
    expect(Buffer.byteLength(`,"seen":${JSON.stringify(seen)}`)).toBeLessThanOrEqual(PROCESSED_KEYS_MAX_BYTES);
  });

  it('never changes the map it is given', () => {
    const seen = { a: Math.floor(T0 / 1000) };
    rememberProcessed(seen, 'b', T0, WINDOW);
    expect(seen).toEqual({ a: Math.floor(T0 / 1000) });
  });

  it('reads a profile written before segments (lastSeq a stream sequence) as covering every record of those messages', () => {
    const old = { ...emptyProfile(), lastSeq: 41 };
    const read = positionedProfile(old);
    expect(read.lastSeq).toBe(41 * RECORDS_PER_MESSAGE + RECORDS_PER_MESSAGE - 1);
    // A record of message 41 is applied already, the first of message 42 is not.
    expect(41 * RECORDS_PER_MESSAGE + 7 <= read.lastSeq).toBe(true);
    expect(42 * RECORDS_PER_MESSAGE > read.lastSeq).toBe(true);
    // Profiles written since then count positions already.
    const current = { ...emptyProfile(), lastSeq: 42 * RECORDS_PER_MESSAGE + 3, seen: {} };
    expect(positionedProfile(current)).toBe(current);
  });
});

describe('remember', () => {
  it('answers the JSON of the map it builds, exactly as JSON.stringify gives it, whatever the keys', () => {
    const now = T0;
    const at = Math.floor(T0 / 1000);
    const maps: Array<Record<string, unknown> | undefined> = [
      undefined,
      {},
      { [processedMark('a')]: at, [processedMark('b')]: at - 5 },
      { 'with "quote"': at, 'é\u0001': at, '12': at, '3': at, plain: at, old: at - 10_000, str: String(at), big: [at + 10] },
    ];
    for (const seen of maps) {
      for (const mark of [processedMark('c'), processedMark('a'), '7', 'x"y', '']) {
        let r = remember(seen as Record<string, number> | undefined, mark, now, WINDOW);
        expect(r.json).toBe(JSON.stringify(r.seen));
        expect(r.seen).toEqual(rememberProcessed(seen as Record<string, number> | undefined, mark, now, WINDOW));
        // Again from the map built (its keys known plain or not).
        r = remember(r.seen, processedMark('d'), now + 1000, WINDOW);
        expect(r.json).toBe(JSON.stringify(r.seen));
      }
    }
    let seen: Record<string, number> | undefined;
    for (let i = 0; i < PROCESSED_KEYS_PER_USER + 3; i++) {
      const r = remember(seen, processedMark(`k${i}`), T0 + i, WINDOW);
      expect(r.json).toBe(JSON.stringify(r.seen));
      seen = r.seen;
    }
  });
});

describe('rememberForSave', () => {
  it('gives what rememberProcessed gives, adding to the map in place only on commit', () => {
    let seen: Record<string, number> | undefined;
    let reference: Record<string, number> | undefined;
    const window = 5_000;
    for (let i = 0; i < 40; i++) {
      const now = T0 + i * 400;
      const mark = processedMark(`k${i % 30}`);
      const read = seen === undefined ? undefined : { ...seen };
      const r = rememberForSave(seen, mark, now, window, 12);
      const expected = rememberProcessed(reference, mark, now, window, 12);
      if (i % 7 === 3) {
        // A save that failed: nothing committed, the map read is as it was.
        expect(seen).toEqual(read);
        continue;
      }
      r.commit();
      expect(r.seen).toEqual(expected);
      expect(Object.keys(r.seen)).toEqual(Object.keys(expected));
      expect(r.json).toBe(JSON.stringify(expected));
      seen = r.seen;
      reference = expected;
    }
  });

  it('adds in place when it can, and never before commit', () => {
    const first = rememberForSave(undefined, processedMark('a'), T0, WINDOW);
    first.commit();
    const second = rememberForSave(first.seen, processedMark('b'), T0 + 1000, WINDOW);
    expect(second.seen).toBe(first.seen);
    expect(wasProcessed(first.seen, processedMark('b'), T0 + 1000, WINDOW)).toBe(false);
    second.commit();
    expect(wasProcessed(first.seen, processedMark('b'), T0 + 1000, WINDOW)).toBe(true);
    expect(second.json).toBe(JSON.stringify(first.seen));
    // Something expired: a new map without it.
    const third = rememberForSave(second.seen, processedMark('c'), T0 + WINDOW + 500, WINDOW);
    expect(third.seen).not.toBe(second.seen);
    expect(Object.keys(third.seen)).toEqual([processedMark('b'), processedMark('c')]);
  });
});

describe('rememberAllForSave', () => {
  it('gives what remembering each mark in turn gives, adding to the map in place only on commit', () => {
    let seen: Record<string, number> | undefined;
    let reference: Record<string, number> | undefined;
    const window = 5_000;
    for (let i = 0; i < 40; i++) {
      const now = T0 + i * 400;
      // 1 to 4 marks, sometimes repeating one (the same event twice in a message) or one already seen.
      const marks = Array.from({ length: 1 + (i % 4) }, (_, j) => processedMark(`k${(i * 3 + j * (i % 5 === 0 ? 0 : 1)) % 25}`));
      const read = seen === undefined ? undefined : { ...seen };
      const r = rememberAllForSave(seen, marks, now, window, 12);
      let expected = reference;
      for (const mark of marks) expected = rememberProcessed(expected, mark, now, window, 12);
      if (i % 7 === 3) {
        expect(seen).toEqual(read);
        continue;
      }
      r.commit();
      expect(r.seen).toEqual(expected);
      expect(Object.keys(r.seen)).toEqual(Object.keys(expected!));
      expect(r.json).toBe(JSON.stringify(expected));
      seen = r.seen;
      reference = expected;
    }
  });

  it('adds several marks in place when it can, and never before commit', () => {
    const first = rememberAllForSave(undefined, [processedMark('a'), processedMark('b')], T0, WINDOW);
    first.commit();
    const second = rememberAllForSave(first.seen, [processedMark('c'), processedMark('d')], T0 + 1000, WINDOW);
    expect(second.seen).toBe(first.seen);
    expect(wasProcessed(first.seen, processedMark('c'), T0 + 1000, WINDOW)).toBe(false);
    second.commit();
    expect(wasProcessed(first.seen, processedMark('d'), T0 + 1000, WINDOW)).toBe(true);
    expect(second.json).toBe(JSON.stringify(first.seen));
    expect(Object.keys(first.seen)).toHaveLength(4);
  });
});
