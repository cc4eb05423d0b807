import { randomInt } from 'node:crypto';
import { processedMark } from './processed-keys.js';

/**
 * The done marks of one partition (processed-log.ts): each mark with the second it was written,
 * oldest first, in typed arrays — about 24 bytes a mark instead of ~130 for a `Map<string,
 * number>` entry and its string, and no string hashing on lookup.
 *
 * A mark (`processedMark`: 16 base64url characters, 96 bits of a hash) is held as its 96 bits in
 * three int32 words, exactly: two marks are the same entry only if they are the same string. A
 * string that is not such a mark (tests use short names) is held as the 96 bits of its own hash,
 * as likely to meet another mark as two event keys are to share a mark (2^-96).
 *
 * - A FIFO ring (`k0`, `k1`, `k2`, `at`; a power-of-two capacity) keeps the marks in the order
 *   they were added: the oldest are forgotten from its head, so a trim costs what it removes.
 * - An open-addressing index (linear probing, twice the ring's capacity: at most half full) maps
 *   a mark to its ring slot: each index slot holds the ring slot + 1 in its low bits (0 = empty)
 *   and the high bits of the mark's `k2` above them, so a probe rarely reads the ring for a mark
 *   that is not there. Removing a mark shifts the entries after it back (backward-shift
 *   deletion) instead of leaving a tombstone, so probes never get longer as marks come and go.
 *   The index hash is keyed with a random seed per table: event ids chosen so that their marks
 *   fall into one slot cannot be aimed at it.
 * - When the ring is full it doubles (its marks copied oldest first, the index rebuilt); when a
 *   trim leaves it less than a quarter full it shrinks to twice what it holds (at least
 *   MIN_CAPACITY).
 *
 * A mark is held once: adding a mark the table holds keeps its first time and place (as the Map
 * did).
 */
export class MarkTable {
  private k0: Int32Array;
  private k1: Int32Array;
  private k2: Int32Array;
  /** When each mark was written, epoch seconds. */
  private at: Uint32Array;
  private ringMask: number;
  /** Ring slot of the oldest mark. */
  private head = 0;
  private count = 0;

  private index: Int32Array;
  /** Index size − 1; also the mask of the ring slot + 1 within an index entry. */
  private indexMask: number;
  private readonly seed: number;

  /** The words of the mark last decoded (decode), to spare an allocation per call. */
  private w0 = 0;
  private w1 = 0;
  private w2 = 0;

  /** `seed` for tests only (which index slot a mark lands in); random otherwise. */
  constructor(options: { capacity?: number; seed?: number } = {}) {
    this.seed = options.seed ?? randomInt(0x7fffffff);
    const cap = capacityFor(options.capacity ?? MIN_CAPACITY);
    this.k0 = new Int32Array(cap);
    this.k1 = new Int32Array(cap);
    this.k2 = new Int32Array(cap);
    this.at = new Uint32Array(cap);
    this.ringMask = cap - 1;
    this.index = new Int32Array(cap * 2);
    this.indexMask = cap * 2 - 1;
  }

  /** Marks held. */
  get size(): number {
    return this.count;
  }

  /** Marks the table can hold before it grows (for tests and memory figures). */
  get capacity(): number {
    return this.ringMask + 1;
  }

  /** When `mark` was written (epoch seconds), or -1 when the table does not hold it. */
  writtenAt(mark: string): number {
    this.decode(mark);
    const slot = this.find(this.w0, this.w1, this.w2);
    return slot < 0 ? -1 : this.at[slot]!;
  }

  has(mark: string): boolean {
    return this.writtenAt(mark) >= 0;
  }

  /** Adds `mark`, written at `atSec`, as the newest; false (and nothing changes) when it is held already. */
  add(mark: string, atSec: number): boolean {
    this.decode(mark);
    const w0 = this.w0;
    const w1 = this.w1;
    const w2 = this.w2;
    if (this.find(w0, w1, w2) >= 0) return false;
    if (this.count > this.ringMask) this.resize((this.ringMask + 1) * 2);
    const slot = (this.head + this.count) & this.ringMask;
    this.k0[slot] = w0;
    this.k1[slot] = w1;
    this.k2[slot] = w2;
    this.at[slot] = atSec;
    this.count++;
    this.link(slot);
    return true;
  }

  /**
   * Forgets the oldest marks: every mark at the head written before `oldestSec`, then any over
   * `max`. Stops at the first mark that is neither (what follows it stays, even if older: the
   * order is the order of adding). Answers how many were forgotten.
   */
  trim(oldestSec: number, max: number): number {
    let removed = 0;
    while (this.count > 0 && (this.at[this.head]! < oldestSec || this.count > max)) {
      this.unlink(this.head);
      this.head = (this.head + 1) & this.ringMask;
      this.count--;
      removed++;
    }
    if (this.count === 0) this.head = 0;
    const cap = this.ringMask + 1;
    if (removed > 0 && cap > MIN_CAPACITY && this.count < cap / 4) this.resize(capacityFor(this.count * 2));
    return removed;
  }

  /** Ring slot of the mark of these words, or -1. */
  private find(w0: number, w1: number, w2: number): number {
    const index = this.index;
    const mask = this.indexMask;
    const high = ~mask;
    let i = this.home(w0, w1);
    for (;;) {
      const entry = index[i]!;
      if (entry === 0) return -1;
      if (((entry ^ w2) & high) === 0) {
        const slot = (entry & mask) - 1;
        if (this.k0[slot] === w0 && this.k1[slot] === w1 && this.k2[slot] === w2) return slot;
      }
      i = (i + 1) & mask;
    }
  }

  /** Enters ring slot `slot` (not in the index) into the index. */
  private link(slot: number): void {
    const index = this.index;
    const mask = this.indexMask;
    let i = this.home(this.k0[slot]!, this.k1[slot]!);
    while (index[i] !== 0) i = (i + 1) & mask;
    index[i] = (this.k2[slot]! & ~mask) | (slot + 1);
  }

  /** Removes ring slot `slot` from the index, moving back the entries of its probe run that may fill the hole. */
  private unlink(slot: number): void {
    const index = this.index;
    const mask = this.indexMask;
    let hole = this.home(this.k0[slot]!, this.k1[slot]!);
    while ((index[hole]! & mask) !== slot + 1) hole = (hole + 1) & mask;
    let i = hole;
    for (;;) {
      i = (i + 1) & mask;
      const entry = index[i]!;
      if (entry === 0) break;
      const s = (entry & mask) - 1;
      const home = this.home(this.k0[s]!, this.k1[s]!);
      // The entry at i may move to the hole unless its home lies cyclically in (hole, i]: then
      // a probe from its home would not pass the hole.
      if (hole <= i ? hole < home && home <= i : hole < home || home <= i) continue;
      index[hole] = entry;
      hole = i;
    }
    index[hole] = 0;
  }

  private home(w0: number, w1: number): number {
    let h = Math.imul(w0 ^ this.seed, 0x9e3779b1) ^ w1;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    return (h ^ (h >>> 13)) & this.indexMask;
  }

  /** Copies the marks into a ring of `cap` slots, oldest at slot 0, and indexes them again. */
  private resize(cap: number): void {
    const { k0, k1, k2, at, head, ringMask, count } = this;
    this.k0 = new Int32Array(cap);
    this.k1 = new Int32Array(cap);
    this.k2 = new Int32Array(cap);
    this.at = new Uint32Array(cap);
    for (let n = 0; n < count; n++) {
      const from = (head + n) & ringMask;
      this.k0[n] = k0[from]!;
      this.k1[n] = k1[from]!;
      this.k2[n] = k2[from]!;
      this.at[n] = at[from]!;
    }
    this.head = 0;
    this.ringMask = cap - 1;
    this.index = new Int32Array(cap * 2);
    this.indexMask = cap * 2 - 1;
    for (let n = 0; n < count; n++) this.link(n);
  }

  /** Sets w0..w2 to the 96 bits of `mark`. */
  private decode(mark: string): void {
    if (mark.length !== MARK_CHARS || !this.decodeMark(mark)) this.decodeMark(processedMark(`\u0001${mark}`));
  }

  /** The 16 characters' 6 bits each: characters 0–4, 5–9 and 10–14 in the three words' high 30 bits, character 15 split over their low 2 bits. */
  private decodeMark(mark: string): boolean {
    let w0 = 0;
    let w1 = 0;
    let w2 = 0;
    for (let i = 0; i < 5; i++) {
      const a = sextet(mark.charCodeAt(i));
      const b = sextet(mark.charCodeAt(i + 5));
      const c = sextet(mark.charCodeAt(i + 10));
      if ((a | b | c) < 0) return false;
      w0 = (w0 << 6) | a;
      w1 = (w1 << 6) | b;
      w2 = (w2 << 6) | c;
    }
    const last = sextet(mark.charCodeAt(15));
    if (last < 0) return false;
    this.w0 = (w0 << 2) | (last >> 4);
    this.w1 = (w1 << 2) | ((last >> 2) & 3);
    this.w2 = (w2 << 2) | (last & 3);
    return true;
  }
}

const MARK_CHARS = 16;
const MIN_CAPACITY = 1024;

function capacityFor(n: number): number {
  let cap = MIN_CAPACITY;
  while (cap < n) cap *= 2;
  return cap;
}

/** Base64url character code → its 6 bits (-1 for any other character). */
const SEXTETS = (() => {
  const t = new Int8Array(128).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  for (let i = 0; i < alphabet.length; i++) t[alphabet.charCodeAt(i)] = i;
  return t;
})();

function sextet(code: number): number {
  return code < 128 ? SEXTETS[code]! : -1;
}
