import { describe, expect, it } from 'vitest';
import { emptyProfile } from '@inkstream/sync-routing';
import {
  PROCESSED_KEYS_MAX_BYTES,
  PROCESSED_KEYS_PER_USER,
  RECORDS_PER_MESSAGE,
  positionedProfile,
  processedMark,
  wasProcessed,
} from './processed-keys.js';

const WINDOW = 600_000;
const T0 = Date.parse('2026-12-02T12:00:00Z');

describe('processed keys', () => {
  it('honours the marks of a profile written by an older version for the dedup window', () => {
    const mark = processedMark('i:abc');
    const seen = { [mark]: Math.floor(T0 / 1000) };
    expect(wasProcessed(seen, mark, T0 + 1000, WINDOW)).toBe(true);
    expect(wasProcessed(seen, processedMark('i:other'), T0 + 1000, WINDOW)).toBe(false);
    expect(wasProcessed(seen, mark, T0 + WINDOW + 1000, WINDOW)).toBe(false);
    expect(wasProcessed(undefined, mark, T0, WINDOW)).toBe(false);
    expect(wasProcessed({}, mark, T0, WINDOW)).toBe(false);
  });

  it(`keeps room for the ${PROCESSED_KEYS_PER_USER} marks an older profile may hold`, () => {
    const seen = Object.fromEntries(Array.from({ length: PROCESSED_KEYS_PER_USER }, (_, i) => [processedMark(`i:e${i}`), Math.floor(T0 / 1000)]));
    expect(Buffer.byteLength(`,"seen":${JSON.stringify(seen)}`)).toBeLessThanOrEqual(PROCESSED_KEYS_MAX_BYTES);
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
