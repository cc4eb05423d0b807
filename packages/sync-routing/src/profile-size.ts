import type { ProfileEntry } from './profile.js';

/**
 * Default bound on a stored profile, in bytes of its JSON. A profile is one value in the
 * `<ns>-profiles` KV bucket, i.e. one NATS message: it must stay well under the server's
 * `max_payload` (1 MiB by default) or the put is refused.
 */
export const DEFAULT_MAX_PROFILE_BYTES = 512 * 1024;

export interface BoundedProfile {
  profile: ProfileEntry;
  /** Its JSON, ready to store. */
  serialized: string;
  /** Bytes of `serialized` (UTF-8). */
  bytes: number;
  /** User properties removed to make it fit, largest first. */
  droppedTraits: string[];
  /** Whether the per-sync identify fingerprints had to be forgotten too (the next event re-identifies). */
  forgotIdentified: boolean;
}

const byteLength = (text: string) => Buffer.byteLength(text, 'utf8');

/**
 * Makes a profile fit `maxBytes` of JSON. The rule: the largest user properties (key and value
 * as JSON) are dropped first, ties broken by name, until the profile fits; it only gets to the
 * per-sync identify fingerprints when the properties alone cannot make room (never in practice:
 * ids are at most 1024 characters). The profile the payloads are built from is the bounded one,
 * so what Movable Ink receives is always what the filter remembers.
 */
export function boundProfile(profile: ProfileEntry, maxBytes: number): BoundedProfile {
  let serialized = JSON.stringify(profile);
  let bytes = byteLength(serialized);
  if (bytes <= maxBytes) return { profile, serialized, bytes, droppedTraits: [], forgotIdentified: false };

  const sizes = Object.entries(profile.properties)
    .map(([key, value]) => ({ key, size: byteLength(JSON.stringify(key)) + byteLength(JSON.stringify(value) ?? '') + 2 }))
    .sort((a, b) => b.size - a.size || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const properties = { ...profile.properties };
  const droppedTraits: string[] = [];
  let estimate = bytes;
  for (const { key, size } of sizes) {
    if (estimate <= maxBytes) break;
    delete properties[key];
    droppedTraits.push(key);
    estimate -= size;
  }
  let bounded: ProfileEntry = { ...profile, properties };
  serialized = JSON.stringify(bounded);
  bytes = byteLength(serialized);
  // The estimate counts separators loosely: finish exactly, one property at a time.
  for (const { key } of sizes.slice(droppedTraits.length)) {
    if (bytes <= maxBytes) break;
    delete properties[key];
    droppedTraits.push(key);
    serialized = JSON.stringify(bounded);
    bytes = byteLength(serialized);
  }
  let forgotIdentified = false;
  if (bytes > maxBytes && Object.keys(bounded.identified).length > 0) {
    bounded = { ...bounded, identified: {} };
    forgotIdentified = true;
    serialized = JSON.stringify(bounded);
    bytes = byteLength(serialized);
  }
  return { profile: bounded, serialized, bytes, droppedTraits, forgotIdentified };
}
