import { sha256 } from '@inkstream/sync-routing';
import type { ProfileEntry } from '@inkstream/sync-routing';

/**
 * The marks of processed events: a 16-character hash (96 bits) of the event key. The filter keeps
 * them per partition in the processed stream (processed-log.ts). Versions before that kept them
 * per user in the profile (`ProfileEntry.seen`: mark → time processed in epoch seconds, at most
 * PROCESSED_KEYS_PER_USER, within the ingest dedup window): such profiles are still read, and
 * their marks honoured (wasProcessed) until the profile is next written (with `"seen":{}`).
 * The profile bound keeps PROCESSED_KEYS_MAX_BYTES of room for such a map.
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

/**
 * A profile written before segments counts `lastSeq` in stream sequences; since then in record
 * positions (RECORDS_PER_MESSAGE per message). Such a profile (no `seen`) is read as having
 * applied every record of the messages up to its lastSeq.
 */
export function positionedProfile(entry: ProfileEntry): ProfileEntry {
  if (entry.seen !== undefined) return entry;
  return { ...entry, lastSeq: entry.lastSeq * RECORDS_PER_MESSAGE + (RECORDS_PER_MESSAGE - 1) };
}
