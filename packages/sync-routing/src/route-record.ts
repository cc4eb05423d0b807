import {
  GROUP_IDENTIFY_EVENT_TYPE,
  IDENTIFY_EVENT_TYPE,
  type IngestedRecord,
  type MovableInkPayload,
  type SyncSnapshot,
} from '@inkstream/contracts';
import {
  buildIdentifyPayload,
  buildTrackPayload,
  discardReason,
  pickAllowed,
  type DiscardReason,
  type PayloadSource,
} from '@inkstream/movable-ink';
import type { EventSelector } from './compile-filters.js';
import { compactIdentified, identifyFingerprint, type ProfileEntry } from './profile.js';
import { boundProfile, DEFAULT_MAX_PROFILE_BYTES } from './profile-size.js';
import { sameJson } from './same-json.js';
import { headBytes, segmentPrefix, singlePayloadSegmentBytes, type SegmentItem } from './segment-lines.js';
import { applyUserProperties, type Properties } from './user-properties.js';

export interface CompiledSync {
  sync: SyncSnapshot;
  select: EventSelector;
}

export interface Discard {
  syncId: string;
  payloadType: MovableInkPayload['type'];
  messageId: string;
  reason: DiscardReason | FilterDiscardReason;
}

/** Discards the filter decides beyond the payload rules of `@inkstream/movable-ink`. */
export type FilterDiscardReason = 'too large for NATS';

export interface RouteLimits {
  /** Bound on the stored profile's JSON (see boundProfile). Default DEFAULT_MAX_PROFILE_BYTES. */
  maxProfileBytes?: number;
  /**
   * Largest delivery message the bus can carry: the NATS server's max_payload less room for
   * headers and the payload head's trace context. A payload whose delivery segment would be
   * larger even alone is discarded with a reason rather than refused by NATS on every retry.
   * Default: no bound.
   */
  maxDeliveryBytes?: number;
  /**
   * Whether each RoutedPayload keeps its payload object (`payload`, for previews). Default true.
   * The filter sends only `payloadJson` and passes false, so the objects are garbage as soon as
   * they are serialized instead of living until the message is done.
   */
  payloadObjects?: boolean;
}

/** Room kept in a profile for one sync's identify fingerprint (sync id and hash, as JSON). */
const FINGERPRINT_RESERVE_BYTES = 128;

/**
 * Identify fingerprints already computed, per properties object (profiles keep the same object
 * while their properties do not change, and never change one in place): most records of a user
 * repeat the pairing and traits of the last, and need no JSON and hash for them again.
 */
const fingerprints = new WeakMap<object, Array<{ allowed: readonly string[]; userId: string | undefined; deviceId: string | undefined; fingerprint: string }>>();

function fingerprintOf(properties: Properties, allowed: readonly string[], userId: string | undefined, deviceId: string | undefined): string {
  let known = fingerprints.get(properties);
  if (known) {
    for (const k of known) if (k.allowed === allowed && k.userId === userId && k.deviceId === deviceId) return k.fingerprint;
  } else fingerprints.set(properties, (known = []));
  const fingerprint = identifyFingerprint(userId, deviceId, pickAllowed(properties, allowed));
  // A few pairings per properties object at most (one per sync, mostly): the newest replace the oldest.
  if (known.length >= 8) known.shift();
  known.push({ allowed, userId, deviceId, fingerprint });
  return fingerprint;
}

/**
 * A profile with these fields, in the order routing always gives them (`v`, `properties`,
 * `userId` and `deviceId` when known, `lastSeq`, `identified`): its JSON is compared and stored.
 */
function entryOf(
  properties: Properties,
  userId: string | undefined,
  deviceId: string | undefined,
  lastSeq: number,
  identified: Record<string, string>,
): ProfileEntry {
  if (userId !== undefined) {
    return deviceId !== undefined ? { v: 1, properties, userId, deviceId, lastSeq, identified } : { v: 1, properties, userId, lastSeq, identified };
  }
  return deviceId !== undefined ? { v: 1, properties, deviceId, lastSeq, identified } : { v: 1, properties, lastSeq, identified };
}

/** UTF-8 bytes of segmentPrefix(sync, project), per sync snapshot (the same few projects each). */
const prefixBytes = new WeakMap<SyncSnapshot, { projectId: string; bytes: number }>();

function segmentPrefixBytes(sync: SyncSnapshot, projectId: string): number {
  const known = prefixBytes.get(sync);
  if (known?.projectId === projectId) return known.bytes;
  const bytes = Buffer.byteLength(segmentPrefix(sync.id, projectId));
  prefixBytes.set(sync, { projectId, bytes });
  return bytes;
}

export interface RoutedRecord {
  /** The profile after this record; `changed` says whether it must be saved. */
  profile: ProfileEntry;
  changed: boolean;
  /** The profile's JSON, bounded to maxProfileBytes, when it changed. */
  serialized?: string;
  /** User properties dropped to keep the profile within maxProfileBytes (largest first). */
  droppedTraits: string[];
  /**
   * The payloads for the delivery stream, in the order they must reach Movable Ink (a user's
   * identify before its track), each with what a v2 delivery segment holds of it: its head's
   * fields and its own JSON, serialized once (the JSON measured for the size rules), so the
   * filter writes segments without serializing anything again (writeSegment).
   */
  payloads: RoutedPayload[];
  discards: Discard[];
}

/** One payload for one sync, ready to go into a delivery segment (segment-lines.ts writeSegment). */
export interface RoutedPayload extends SegmentItem {
  syncId: string;
  payloadType: MovableInkPayload['type'];
  /** The payload's id (stable across retries of its event): also `payload.message_id`. */
  messageId: string;
  userKey: string;
  /** `JSON.stringify(userKey)`, for its head. */
  userKeyJson: string;
  /** When ingest received its event, for its head. */
  receivedAt: number;
  /** The payload itself, for previews (absent when routed with `payloadObjects: false`; the filter sends `payloadJson`). */
  payload?: MovableInkPayload;
  /** `JSON.stringify(payload)`: the line it has in a segment, what the request body carries. */
  payloadJson: string;
  /** UTF-8 bytes of its head without trace context (`itemHeadJson`) plus those of payloadJson. */
  bytes: number;
}

/**
 * Everything the filter decides for one ingested record, as a pure function: the new user
 * profile and the payloads for each active sync of the project (spec/pipeline.md, filter).
 */
export function routeRecord(
  record: IngestedRecord,
  streamSeq: number,
  before: ProfileEntry,
  syncs: readonly CompiledSync[],
  now: number,
  limits: RouteLimits = {},
): RoutedRecord {
  const maxProfileBytes = limits.maxProfileBytes ?? DEFAULT_MAX_PROFILE_BYTES;
  const { event } = record;
  const isGroupIdentify = event.event_type === GROUP_IDENTIFY_EVENT_TYPE;
  const isIdentify = record.kind === 'identify' || event.event_type === IDENTIFY_EVENT_TYPE;
  const alreadyApplied = streamSeq <= before.lastSeq;

  let applied =
    alreadyApplied || isGroupIdentify ? before.properties : applyUserProperties(before.properties, event.user_properties);
  const userId = event.user_id ?? before.userId;
  const deviceId = event.device_id ?? before.deviceId;
  const identified = compactIdentified(before.identified);
  let droppedTraits: string[] = [];
  if (applied !== before.properties) {
    // Bound the profile before anything is built from it, keeping room for the fingerprints.
    const reserve = syncs.filter((s) => s.sync.sendUsers).length * FINGERPRINT_RESERVE_BYTES;
    const draft = entryOf(applied, userId, deviceId, before.lastSeq, identified);
    const bounded = boundProfile(draft, Math.max(0, maxProfileBytes - reserve));
    applied = bounded.profile.properties;
    droppedTraits = bounded.droppedTraits;
  }
  // Most events repeat what the profile already says ($set of the same plan, say): keep the old
  // object then, so nothing is rewritten.
  const properties =
    applied === before.properties || sameJson(applied, before.properties) ? before.properties : applied;
  // `identified` is copied only once a fingerprint changes (profiles are never changed in place).
  const profile = entryOf(properties, userId, deviceId, before.lastSeq, identified);
  let changed =
    properties !== before.properties || userId !== before.userId || deviceId !== before.deviceId || identified !== before.identified;

  const payloads: RoutedPayload[] = [];
  const discards: Discard[] = [];
  const keepObjects = limits.payloadObjects !== false;
  // The payloads' heads share the user key: its JSON and bytes are made once, when first needed.
  let userKeyJson: string | undefined;
  let userKeyJsonBytes = 0;
  /** Queues a payload, or records why it is discarded; true when queued. */
  const emit = (sync: SyncSnapshot, payload: MovableInkPayload): boolean => {
    const payloadJson = JSON.stringify(payload);
    const bytes = Buffer.byteLength(payloadJson);
    const reason = discardReason(payload, bytes, sync.delivery.maxRequestBytes, now);
    if (reason) {
      discards.push({ syncId: sync.id, payloadType: payload.type, messageId: payload.message_id, reason });
      return false;
    }
    if (userKeyJson === undefined) {
      userKeyJson = JSON.stringify(record.userKey);
      userKeyJsonBytes = Buffer.byteLength(userKeyJson);
    }
    const routed: RoutedPayload = {
      syncId: sync.id,
      payloadType: payload.type,
      messageId: payload.message_id,
      userKey: record.userKey,
      userKeyJson,
      receivedAt: record.receivedAt,
      payload: keepObjects ? payload : undefined,
      payloadJson,
      bytes: headBytes(payload.message_id, payload.type, userKeyJsonBytes, record.receivedAt) + bytes,
    };
    if (limits.maxDeliveryBytes !== undefined) {
      const alone = singlePayloadSegmentBytes(segmentPrefixBytes(sync, record.projectId), routed.bytes, 0);
      if (alone > limits.maxDeliveryBytes) {
        discards.push({ syncId: sync.id, payloadType: payload.type, messageId: payload.message_id, reason: 'too large for NATS' });
        return false;
      }
    }
    payloads.push(routed);
    return true;
  };

  if (!isGroupIdentify) {
    for (const { sync, select } of syncs) {
      const source: PayloadSource = {
        syncId: sync.id,
        event,
        eventKey: record.eventKey,
        receivedAt: record.receivedAt,
        profile: properties,
      };
      if (sync.sendUsers) {
        const fingerprint = fingerprintOf(properties, sync.userProperties, userId, deviceId);
        if (isIdentify || profile.identified[sync.id] !== fingerprint) {
          // The identify carries the whole pairing, so Movable Ink can merge anonymous activity.
          const paired = { ...event, user_id: userId, device_id: deviceId };
          const queued = emit(sync, buildIdentifyPayload({ ...source, event: paired }, sync));
          // A discarded identify (too old, too large) was not sent: the next event tries again.
          if (queued && profile.identified[sync.id] !== fingerprint) {
            if (profile.identified === identified) profile.identified = { ...identified };
            profile.identified[sync.id] = fingerprint;
            changed = true;
          }
        }
      }
      if (!isIdentify && sync.sendEvents && select(event, properties)) {
        emit(sync, buildTrackPayload(source, sync));
      }
    }
  }
  if (!changed) return { profile, changed, payloads, discards, droppedTraits };
  profile.lastSeq = Math.max(before.lastSeq, streamSeq);
  const bounded = boundProfile(profile, maxProfileBytes);
  return {
    profile: bounded.profile,
    changed,
    serialized: bounded.serialized,
    payloads,
    discards,
    droppedTraits: [...droppedTraits, ...bounded.droppedTraits],
  };
}
