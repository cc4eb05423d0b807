import { sha256 } from '@inkstream/sync-routing';
import type { ProfileEntry } from '@inkstream/sync-routing';

/**
 * Per-user memory of the events the filter processed (`ProfileEntry.seen`), so that an event
 * ingest stored twice in different segments (an SDK retrying a subset of a request, or the same
 * events in another request: the segment message ids differ, so the stream keeps both) is
 * processed once, and so that a segment given back and redelivered skips the records already
 * done. Kept in the user's profile, whose only writer is the replica holding the partition.
 *
 * Bound: at most PROCESSED_KEYS_PER_USER keys per user, each remembered for the ingest stream's
 * duplicate window (INGEST_DEDUP_WINDOW_SECONDS); past the bound the oldest are forgotten first.
 * A key is a 16-character hash (96 bits) of the event key with the time processed in epoch
 * seconds, about 30 bytes of JSON: the map adds at most PROCESSED_KEYS_MAX_BYTES to a profile.
 * A user who sends more than PROCESSED_KEYS_PER_USER events within the window can see a
 * regrouped retry of an older one processed again (payload message ids are the same, so the
 * delivery stream drops a repeat within its own window).
 */
export const PROCESSED_KEYS_PER_USER = 500;
const MARK_CHARS = 16;
/** `"<16 chars>":<10 digits>,` plus the field's own name. */
export const PROCESSED_KEYS_MAX_BYTES = PROCESSED_KEYS_PER_USER * (MARK_CHARS + 2 + 1 + 10 + 1) + 16;

/**
 * Records of one stream message get positions `seq * RECORDS_PER_MESSAGE + index` for
 * `ProfileEntry.lastSeq` (a segment holds at most MAX_EVENTS_PER_REQUEST = 2000 records).
 */
export const RECORDS_PER_MESSAGE = 4096;

/** The short hash a processed event key is remembered by. */
export function processedMark(eventKey: string): string {
  return sha256(eventKey, 'base64url').slice(0, MARK_CHARS);
}

/** Whether the user processed this event within the window. */
export function wasProcessed(seen: ProfileEntry['seen'], mark: string, nowMs: number, windowMs: number): boolean {
  const at = seen?.[mark];
  return at !== undefined && nowMs - at * 1000 <= windowMs;
}

/** The map after remembering a key, with its JSON. */
export interface Remembered {
  seen: Record<string, number>;
  /** Exactly `JSON.stringify(seen)`. */
  json: string;
}

/** Characters a key may have to be written into JSON as it is (a mark is base64url). */
const PLAIN_KEY = /^[A-Za-z0-9_-]*$/;
const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,9})$/;
/** Maps built here whose keys are all plain (checked once, not per record). */
const plainKeys = new WeakSet<object>();

/**
 * The map after remembering `mark`: keys older than the window are dropped, and then the oldest
 * until at most PROCESSED_KEYS_PER_USER remain. Never changes `seen`.
 */
export function rememberProcessed(
  seen: ProfileEntry['seen'],
  mark: string,
  nowMs: number,
  windowMs: number,
  max: number = PROCESSED_KEYS_PER_USER,
): Record<string, number> {
  return remember(seen, mark, nowMs, windowMs, max).seen;
}

/**
 * rememberProcessed with the JSON of the map, built in the same pass: this runs for every
 * record, and serializing a map of hundreds of keys costs more than building it.
 */
export function remember(
  seen: ProfileEntry['seen'],
  mark: string,
  nowMs: number,
  windowMs: number,
  max: number = PROCESSED_KEYS_PER_USER,
): Remembered {
  const now = Math.floor(nowMs / 1000);
  const oldest = (nowMs - windowMs) / 1000;
  // Keys of a map not built here (read from KV) are checked, once.
  const known = seen === undefined || plainKeys.has(seen);
  let allPlain = true;
  let out = newMap();
  let json = '';
  let kept = 0;
  for (const key in seen) {
    const at = seen[key]!;
    if (key === mark || !(at >= oldest)) continue;
    out[key] = at;
    kept++;
    const plain = known || PLAIN_KEY.test(key);
    if (!plain) allPlain = false;
    json += `,${plain ? `"${key}"` : JSON.stringify(key)}:${typeof at === 'number' && Number.isFinite(at) ? at : JSON.stringify(at)}`;
  }
  if (kept >= max) {
    // Over the bound (rare): the newest max - 1 stay, ties in the map's order.
    const newest = Object.entries(out)
      .sort((a, b) => b[1] - a[1])
      .slice(0, Math.max(0, max - 1));
    out = newMap();
    for (const [key, at] of newest) out[key] = at;
    out[mark] = now;
    return { seen: out, json: JSON.stringify(out) };
  }
  out[mark] = now;
  const markPlain = PLAIN_KEY.test(mark);
  // An array-index-like key is serialized first, not last: let JSON order it then.
  if (ARRAY_INDEX.test(mark)) return { seen: out, json: JSON.stringify(out) };
  json = `{${json.slice(1)}${kept > 0 ? ',' : ''}${markPlain ? `"${mark}"` : JSON.stringify(mark)}:${now}}`;
  if (allPlain && markPlain) plainKeys.add(out);
  return { seen: out, json };
}

/** What is known of a map built by rememberForSave: its JSON, size and oldest time. */
interface Known {
  json: string;
  count: number;
  oldestAt: number;
}

const knownMaps = new WeakMap<object, Known>();

/**
 * A new map of processed keys. Without a prototype, which V8 keeps as a hash table from the
 * start: every user's keys are different, and adding them to an ordinary object would build a
 * new hidden class per key (the bulk of this bookkeeping's cost). JSON, `for…in` and lookups
 * read it as any object.
 */
function newMap(): Record<string, number> {
  return Object.create(null) as Record<string, number>;
}

/** rememberForSave's answer: the map and its JSON, valid once `commit` is called. */
export interface Remembering extends Remembered {
  /**
   * Call once the profile holding `seen` is staged (and not when its save failed): when the
   * mark was added to the map in place rather than to a copy, this is when it is added.
   */
  commit(): void;
}

const NOTHING = () => undefined;

/**
 * rememberProcessed for a profile about to be saved, without copying the map for every record:
 * when nothing in the map has expired, the bound leaves room and the mark is new, `seen` itself
 * gets the mark — on `commit`, once the new profile is staged, so a record whose save fails
 * leaves the map it read as it was (its redelivery must not find itself processed). The JSON
 * answered is then the map's JSON of the last time plus the mark. Otherwise this is
 * rememberProcessed (a new map). Either way the result is the one rememberProcessed gives.
 * The maps given must be only the filter's own profiles' (the lanes keep one user's records one
 * after another, and a map is not read while its record is between this and `commit`).
 */
export function rememberForSave(
  seen: ProfileEntry['seen'],
  mark: string,
  nowMs: number,
  windowMs: number,
  max: number = PROCESSED_KEYS_PER_USER,
): Remembering {
  const now = Math.floor(nowMs / 1000);
  const oldest = (nowMs - windowMs) / 1000;
  const k = seen === undefined ? undefined : knownMaps.get(seen);
  if (
    seen !== undefined &&
    k !== undefined &&
    k.count < max &&
    k.oldestAt >= oldest &&
    seen[mark] === undefined &&
    PLAIN_KEY.test(mark) &&
    !ARRAY_INDEX.test(mark)
  ) {
    const json = `${k.json.slice(0, -1)}${k.count > 0 ? ',' : ''}"${mark}":${now}}`;
    return {
      seen,
      json,
      commit: () => {
        seen[mark] = now;
        k.json = json;
        k.count++;
        k.oldestAt = Math.min(k.oldestAt, now);
      },
    };
  }
  return { ...knownMap(remember(seen, mark, nowMs, windowMs, max)), commit: NOTHING };
}

/** Remembers what is known of a map built by remember (when its keys are all plain), for the next rememberForSave. */
function knownMap(built: Remembered): Remembered {
  if (plainKeys.has(built.seen)) {
    let count = 0;
    let oldestAt = Infinity;
    for (const key in built.seen) {
      const at = built.seen[key]!;
      count++;
      oldestAt = typeof at === 'number' ? Math.min(oldestAt, at) : -Infinity;
    }
    knownMaps.set(built.seen, { json: built.json, count, oldestAt });
  }
  return built;
}

/**
 * rememberForSave for several marks at once, in order (the records of one user in one ingest
 * message, saved in one profile write): the same map as remembering them one after another.
 * Like rememberForSave, the map read gets the marks in place only on `commit` (once the profile
 * is staged), so the records are marked processed only when their write is on its way to be
 * stored, never when it failed.
 */
export function rememberAllForSave(
  seen: ProfileEntry['seen'],
  marks: readonly string[],
  nowMs: number,
  windowMs: number,
  max: number = PROCESSED_KEYS_PER_USER,
): Remembering {
  if (marks.length === 1) return rememberForSave(seen, marks[0]!, nowMs, windowMs, max);
  if (marks.length === 0) throw new Error('rememberAllForSave: no marks');
  const now = Math.floor(nowMs / 1000);
  const oldest = (nowMs - windowMs) / 1000;
  const k = seen === undefined ? undefined : knownMaps.get(seen);
  if (
    seen !== undefined &&
    k !== undefined &&
    k.count + marks.length <= max &&
    k.oldestAt >= oldest &&
    new Set(marks).size === marks.length &&
    marks.every((mark) => seen[mark] === undefined && PLAIN_KEY.test(mark) && !ARRAY_INDEX.test(mark))
  ) {
    let added = '';
    for (const mark of marks) added += `,"${mark}":${now}`;
    const json = k.count > 0 ? `${k.json.slice(0, -1)}${added}}` : `{${added.slice(1)}}`;
    return {
      seen,
      json,
      commit: () => {
        for (const mark of marks) seen[mark] = now;
        k.json = json;
        k.count += marks.length;
        k.oldestAt = Math.min(k.oldestAt, now);
      },
    };
  }
  let built = remember(seen, marks[0]!, nowMs, windowMs, max);
  for (let i = 1; i < marks.length; i++) built = remember(built.seen, marks[i]!, nowMs, windowMs, max);
  return { ...knownMap(built), commit: NOTHING };
}

/**
 * A profile written before segments counts `lastSeq` in stream sequences; since then in record
 * positions (RECORDS_PER_MESSAGE per message). Such a profile (no `seen`) is read as having
 * applied every record of the messages up to its lastSeq.
 */
export function positionedProfile(entry: ProfileEntry): ProfileEntry {
  if (entry.seen !== undefined) return entry;
  return { ...entry, lastSeq: entry.lastSeq * RECORDS_PER_MESSAGE + (RECORDS_PER_MESSAGE - 1) };
}
