import { sha256 } from './hash.js';
import type { Properties } from './user-properties.js';

/** What is remembered about one user of one project. */
export interface ProfileEntry {
  v: 1;
  /** Current user properties. */
  properties: Properties;
  /** The user_id ↔ device_id pairing last seen. */
  userId?: string;
  deviceId?: string;
  /**
   * Ingest stream sequence of the last event whose user-property operations were applied, so a
   * redelivered event never applies `$add`/`$append` twice.
   */
  lastSeq: number;
  /**
   * Per sync: fingerprint (see identifyFingerprint) of the last identify payload sent for this
   * user — recorded only when that identify was queued for delivery, never when it was discarded.
   */
  identified: Record<string, string>;
  /**
   * Event keys of this user the filter processed within the ingest dedup window, as short hashes
   * with the time processed (epoch seconds), so a retry that regroups events into other segments
   * is not processed twice. Kept and bounded by the filter (services/filter/src/processed-keys.ts);
   * routing ignores it. Absent in profiles written before segments (their lastSeq is a stream
   * sequence, not a record position).
   */
  seen?: Record<string, number>;
}

export const emptyProfile = (): ProfileEntry => ({ v: 1, properties: {}, lastSeq: 0, identified: {} });

/**
 * What an identify says about a user, as a short hash: the pairing and the selected traits. A
 * hash, not the traits themselves, so the profile does not hold a copy of the traits per sync.
 */
export function identifyFingerprint(userId: string | undefined, deviceId: string | undefined, traits: Record<string, unknown> | undefined): string {
  return identifyFingerprintOfJson(userId, deviceId, traits === undefined ? undefined : JSON.stringify(traits));
}

/**
 * identifyFingerprint of traits given as their JSON (routing has it for the payloads already):
 * the hash of `JSON.stringify([userId ?? null, deviceId ?? null, traits ?? null])`, written from pieces.
 */
export function identifyFingerprintOfJson(userId: string | undefined, deviceId: string | undefined, traitsJson: string | undefined): string {
  const user = userId === undefined || userId === null ? 'null' : JSON.stringify(userId);
  const device = deviceId === undefined || deviceId === null ? 'null' : JSON.stringify(deviceId);
  return sha256(`[${user},${device},${traitsJson ?? 'null'}]`, 'base64url');
}

/**
 * Profiles written before the fingerprint became a hash hold its JSON itself (it starts with
 * "[") — a copy of the traits per sync. The hash of that JSON is exactly the fingerprint of today,
 * so the old form converts without sending any user again. Answers the same object when nothing
 * was old.
 */
export function compactIdentified(identified: Record<string, string>): Record<string, string> {
  let out: Record<string, string> | undefined;
  for (const syncId in identified) {
    const fingerprint = identified[syncId]!;
    if (!Object.prototype.hasOwnProperty.call(identified, syncId) || !fingerprint.startsWith('[')) continue;
    out ??= { ...identified };
    out[syncId] = sha256(fingerprint, 'base64url');
  }
  return out ?? identified;
}

/**
 * The profile as it would be had the identifies of these syncs not been sent: their fingerprints
 * go back to what `before` held. For an identify refused after routing (NATS refused the job),
 * so the user's next event identifies them again.
 */
export function forgetIdentifies(after: ProfileEntry, before: ProfileEntry, syncIds: readonly string[]): ProfileEntry {
  if (syncIds.length === 0) return after;
  const identified = { ...after.identified };
  for (const id of syncIds) {
    const previous = before.identified[id];
    if (previous === undefined) delete identified[id];
    else identified[id] = previous;
  }
  return { ...after, identified };
}

/** Key of a user's profile in the profiles bucket (KV keys must be subject-safe). */
export function profileKey(projectId: string, userKey: string): string {
  return `${projectId}.${sha256(userKey, 'base64url')}`;
}
