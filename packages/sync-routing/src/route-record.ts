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
  discardReasonOf,
  identifyPayloadJson,
  identityJson,
  messageIdFor,
  pickedJson,
  timestampOf,
  trackPayloadJson,
  type DiscardReason,
  type PayloadSource,
} from '@inkstream/movable-ink';
import type { EventSelector } from './compile-filters.js';
import { compactIdentified, identifyFingerprintOfJson, type ProfileEntry } from './profile.js';
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

/** What routing knows of one sync's selected traits of a properties object: their JSON and the identify fingerprint. */
interface KnownTraits {
  allowed: readonly string[];
  userId: string | undefined;
  deviceId: string | undefined;
  /** pickedJson of the properties (undefined: none selected). */
  traitsJson: string | undefined;
  fingerprint: string;
}

/**
 * Selected traits' JSON and identify fingerprints already computed, per properties object
 * (profiles keep the same object while their properties do not change, and never change one in
 * place): most records of a user repeat the pairing and traits of the last, and need no JSON and
 * hash for them again.
 */
const fingerprints = new WeakMap<object, KnownTraits[]>();

function knownTraits(properties: Properties, fresh: boolean, allowed: readonly string[], userId: string | undefined, deviceId: string | undefined): KnownTraits {
  // Properties this record changed are a new object, in no cache: remembered once a record reuses
  // them (profiles that change with every event would fill the cache for nothing, and a WeakMap
  // entry is costly to add and to collect).
  if (fresh) return traitsOf(properties, allowed, userId, deviceId);
  let known = fingerprints.get(properties);
  if (known) {
    for (const k of known) if (k.allowed === allowed && k.userId === userId && k.deviceId === deviceId) return k;
  } else fingerprints.set(properties, (known = []));
  const k = traitsOf(properties, allowed, userId, deviceId);
  // A few pairings per properties object at most (one per sync, mostly): the newest replace the oldest.
  if (known.length >= 8) known.shift();
  known.push(k);
  return k;
}

function traitsOf(properties: Properties, allowed: readonly string[], userId: string | undefined, deviceId: string | undefined): KnownTraits {
  const traitsJson = pickedJson(properties, allowed);
  return { allowed, userId, deviceId, traitsJson, fingerprint: identifyFingerprintOfJson(userId, deviceId, traitsJson) };
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

/** Bytes of the JSON of an entryOf profile before its properties' JSON (`{"v":1,"properties":`). */
const ENTRY_HEAD_BYTES = '{"v":1,"properties":'.length;

/**
 * `JSON.stringify(entryOf(...))` given the properties' JSON (made once per record), joined from its
 * pieces: one string of the profile's length, no copy of the properties' JSON in a second
 * serialization of the whole.
 */
function entryJson(propertiesJson: string, userId: string | undefined, deviceId: string | undefined, lastSeq: number, identified: Record<string, string>): string {
  const user = valueJson(userId);
  const device = valueJson(deviceId);
  const seq = valueJson(lastSeq);
  const known = valueJson(identified);
  return [
    '{"v":1,"properties":',
    propertiesJson,
    user === undefined ? '' : ',"userId":',
    user ?? '',
    device === undefined ? '' : ',"deviceId":',
    device ?? '',
    seq === undefined ? '' : ',"lastSeq":',
    seq ?? '',
    known === undefined ? '' : ',"identified":',
    known ?? '',
    '}',
  ].join('');
}

/** A value's JSON as JSON.stringify writes it in an object (undefined: the member is left out). */
function valueJson(value: unknown): string | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? `${value}` : JSON.stringify(value);
}

/**
 * At least the UTF-8 bytes of entryJson past the properties' JSON (a number's JSON has at most
 * 24 characters; a string's, 6 bytes per UTF-16 unit and its quotes; `null` for values of another
 * kind), counted without serializing anything: most profiles are far below their bound.
 */
function entryTailMaxBytes(userId: string | undefined, deviceId: string | undefined, identified: Record<string, string>): number {
  let bytes = ',"userId":,"deviceId":,"lastSeq":,"identified":{}}'.length + 24 + stringMaxBytes(userId) + stringMaxBytes(deviceId);
  for (const syncId in identified) bytes += 2 + stringMaxBytes(syncId) + stringMaxBytes(identified[syncId]);
  return bytes;
}

function stringMaxBytes(value: unknown): number {
  return typeof value === 'string' ? 6 * value.length + 2 : value === undefined || value === null ? 4 : Infinity;
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
  /** JSON of `applied` (and so of `properties`), once made. */
  let propertiesJson: string | undefined;
  if (applied !== before.properties) {
    // Bound the profile before anything is built from it, keeping room for the fingerprints.
    let users = 0;
    for (let i = 0; i < syncs.length; i++) if (syncs[i]!.sync.sendUsers) users++;
    const limit = Math.max(0, maxProfileBytes - users * FINGERPRINT_RESERVE_BYTES);
    propertiesJson = JSON.stringify(applied);
    const propertiesBytes = Buffer.byteLength(propertiesJson);
    // The draft's exact size only when its bound says it may not fit (it is serialized then).
    if (
      ENTRY_HEAD_BYTES + propertiesBytes + entryTailMaxBytes(userId, deviceId, identified) > limit &&
      Buffer.byteLength(entryJson(propertiesJson, userId, deviceId, before.lastSeq, identified)) > limit
    ) {
      const bounded = boundProfile(entryOf(applied, userId, deviceId, before.lastSeq, identified), limit);
      if (bounded.profile.properties !== applied) propertiesJson = undefined;
      applied = bounded.profile.properties;
      droppedTraits = bounded.droppedTraits;
    }
  }
  // Most events repeat what the profile already says ($set of the same plan, say): keep the old
  // object then, so nothing is rewritten (its JSON is the same).
  const properties =
    applied === before.properties || sameJson(applied, before.properties) ? before.properties : applied;
  // `identified` is copied only once a fingerprint changes (profiles are never changed in place).
  const profile = entryOf(properties, userId, deviceId, before.lastSeq, identified);
  let changed =
    properties !== before.properties || userId !== before.userId || deviceId !== before.deviceId || identified !== before.identified;

  const routed: RoutedRecord = { profile, changed, payloads: [], discards: [], droppedTraits };
  if (!isGroupIdentify) {
    const timestamp = timestampOf(event, record.receivedAt);
    // The event's own ids (a track's), and the pairing the profile knows (an identify's).
    let eventIds: string | undefined;
    let pairedIds: string | undefined;
    for (let i = 0; i < syncs.length; i++) {
      const { sync, select } = syncs[i]!;
      let traits: KnownTraits | undefined;
      if (sync.sendUsers) {
        traits = knownTraits(properties, properties !== before.properties, sync.userProperties, userId, deviceId);
        const { fingerprint } = traits;
        if (isIdentify || profile.identified[sync.id] !== fingerprint) {
          // The identify carries the whole pairing, so Movable Ink can merge anonymous activity.
          // (Mostly the event's own: its ids are the pairing then.)
          pairedIds ??= userId === event.user_id && deviceId === event.device_id ? (eventIds ??= identityJson(userId, deviceId)) : identityJson(userId, deviceId);
          const messageId = messageIdFor(sync.id, 'identify', record.eventKey);
          const json = identifyPayloadJson(pairedIds, timestamp, messageId, traits.traitsJson);
          const payload = limits.payloadObjects === false ? undefined : buildIdentifyPayload(sourceOf(record, sync, properties, { ...event, user_id: userId, device_id: deviceId }), sync);
          const queued = queue(routed, record, sync, 'identify', messageId, json, pairedIds !== '', timestamp, payload, now, limits);
          // A discarded identify (too old, too large) was not sent: the next event tries again.
          if (queued && profile.identified[sync.id] !== fingerprint) {
            if (profile.identified === identified) profile.identified = { ...identified };
            profile.identified[sync.id] = fingerprint;
            changed = true;
          }
        }
      }
      if (!isIdentify && sync.sendEvents && select(event, properties)) {
        eventIds ??= identityJson(event.user_id, event.device_id);
        const messageId = messageIdFor(sync.id, 'track', record.eventKey);
        const userPropertiesJson = traits !== undefined ? traits.traitsJson : pickedJson(properties, sync.userProperties);
        const json = trackPayloadJson(event.event_type, eventIds, timestamp, messageId, pickedJson(event.event_properties, sync.eventProperties), userPropertiesJson);
        const payload = limits.payloadObjects === false ? undefined : buildTrackPayload(sourceOf(record, sync, properties, event), sync);
        queue(routed, record, sync, 'track', messageId, json, eventIds !== '', timestamp, payload, now, limits);
      }
    }
  }
  if (!changed) return routed;
  routed.changed = true;
  profile.lastSeq = Math.max(before.lastSeq, streamSeq);
  const serialized = entryJson(propertiesJson ?? JSON.stringify(properties), profile.userId, profile.deviceId, profile.lastSeq, profile.identified);
  if (Buffer.byteLength(serialized) <= maxProfileBytes) {
    routed.serialized = serialized;
    return routed;
  }
  const bounded = boundProfile(profile, maxProfileBytes);
  routed.profile = bounded.profile;
  routed.serialized = bounded.serialized;
  if (bounded.droppedTraits.length > 0) routed.droppedTraits = [...droppedTraits, ...bounded.droppedTraits];
  return routed;
}

/** What buildTrackPayload and buildIdentifyPayload take, for the payload objects of previews. */
function sourceOf(record: IngestedRecord, sync: SyncSnapshot, properties: Properties, event: IngestedRecord['event']): PayloadSource {
  return { syncId: sync.id, event, eventKey: record.eventKey, receivedAt: record.receivedAt, profile: properties };
}

/**
 * Queues a payload given as its JSON (and its object, for previews), or records why it is
 * discarded; true when queued.
 */
function queue(
  routed: RoutedRecord,
  record: IngestedRecord,
  sync: SyncSnapshot,
  payloadType: MovableInkPayload['type'],
  messageId: string,
  payloadJson: string,
  hasId: boolean,
  timestamp: number,
  payload: MovableInkPayload | undefined,
  now: number,
  limits: RouteLimits,
): boolean {
  const bytes = Buffer.byteLength(payloadJson);
  const reason = discardReasonOf(hasId, timestamp, bytes, sync.delivery.maxRequestBytes, now);
  if (reason) {
    routed.discards.push({ syncId: sync.id, payloadType, messageId, reason });
    return false;
  }
  // The payloads' heads share the user key: its JSON is made once, for the first.
  const userKeyJson = routed.payloads.length > 0 ? routed.payloads[0]!.userKeyJson : JSON.stringify(record.userKey);
  const item: RoutedPayload = {
    syncId: sync.id,
    payloadType,
    messageId,
    userKey: record.userKey,
    userKeyJson,
    receivedAt: record.receivedAt,
    payload,
    payloadJson,
    bytes: headBytes(messageId, payloadType, Buffer.byteLength(userKeyJson), record.receivedAt) + bytes,
  };
  if (limits.maxDeliveryBytes !== undefined) {
    const alone = singlePayloadSegmentBytes(segmentPrefixBytes(sync, record.projectId), item.bytes, 0);
    if (alone > limits.maxDeliveryBytes) {
      routed.discards.push({ syncId: sync.id, payloadType, messageId, reason: 'too large for NATS' });
      return false;
    }
  }
  routed.payloads.push(item);
  return true;
}
