import type { AmplitudeEvent, IdentifyPayload, TrackPayload } from '@inkstream/contracts';
import { messageIdFor } from './message-id.js';

/** Movable Ink refuses data older than 30 days. */
export const MAX_PAYLOAD_AGE_MS = 30 * 24 * 3600 * 1000;

export interface PayloadSource {
  syncId: string;
  event: AmplitudeEvent;
  /** Stable key of the source event (insert_id or ingest message id). */
  eventKey: string;
  /** Receive time, used when the event has no `time`. */
  receivedAt: number;
  /** The user's current profile (user properties after this event). */
  profile: Record<string, unknown>;
}

export interface PayloadSelection {
  eventProperties: string[];
  userProperties: string[];
}

/** Picks the allow-listed keys (`"*"` = all) that are present; undefined when none are. */
export function pickAllowed(
  source: Record<string, unknown> | undefined,
  allowed: readonly string[],
): Record<string, unknown> | undefined {
  if (!source || allowed.length === 0) return undefined;
  let out: Record<string, unknown> | undefined;
  if (allowed.includes('*')) {
    for (const [k, v] of Object.entries(source)) if (v !== undefined) (out ??= {})[k] = v;
    return out;
  }
  for (const key of allowed) {
    if (Object.prototype.hasOwnProperty.call(source, key) && source[key] !== undefined) (out ??= {})[key] = source[key];
  }
  return out;
}

function identity(event: AmplitudeEvent): { user_id?: string; anonymous_id?: string } {
  const out: { user_id?: string; anonymous_id?: string } = {};
  if (typeof event.user_id === 'string' && event.user_id !== '') out.user_id = event.user_id;
  if (typeof event.device_id === 'string' && event.device_id !== '') out.anonymous_id = event.device_id;
  return out;
}

export function timestampOf(event: AmplitudeEvent, receivedAt: number): number {
  return typeof event.time === 'number' && Number.isFinite(event.time) ? event.time : receivedAt;
}

export function buildTrackPayload(source: PayloadSource, selection: PayloadSelection): TrackPayload {
  const payload: TrackPayload = {
    type: 'track',
    event: source.event.event_type,
    ...identity(source.event),
    timestamp: timestampOf(source.event, source.receivedAt),
    message_id: messageIdFor(source.syncId, 'track', source.eventKey),
  };
  const properties = pickAllowed(source.event.event_properties, selection.eventProperties);
  if (properties) payload.properties = properties;
  const userProperties = pickAllowed(source.profile, selection.userProperties);
  if (userProperties) payload.user_properties = userProperties;
  return payload;
}

export function buildIdentifyPayload(source: PayloadSource, selection: PayloadSelection): IdentifyPayload {
  const payload: IdentifyPayload = {
    type: 'identify',
    ...identity(source.event),
    timestamp: timestampOf(source.event, source.receivedAt),
    message_id: messageIdFor(source.syncId, 'identify', source.eventKey),
  };
  const traits = pickAllowed(source.profile, selection.userProperties);
  if (traits) payload.traits = traits;
  return payload;
}

const str = JSON.stringify;

/**
 * The picked properties' JSON (`JSON.stringify(pickAllowed(source, allowed))`), undefined when
 * none are present: what a payload's `properties`, `user_properties` or `traits` say.
 */
export function pickedJson(source: Record<string, unknown> | undefined, allowed: readonly string[]): string | undefined {
  const picked = pickAllowed(source, allowed);
  return picked === undefined ? undefined : str(picked);
}

/**
 * The ids of a payload in its JSON, as buildTrackPayload and buildIdentifyPayload take them from
 * an event with these `user_id` and `device_id`: `,"user_id":…,"anonymous_id":…`, each only when
 * a non-empty string; '' for none (such a payload is discarded, see discardReason).
 */
export function identityJson(userId: unknown, deviceId: unknown): string {
  let out = '';
  if (typeof userId === 'string' && userId !== '') out += `,"user_id":${str(userId)}`;
  if (typeof deviceId === 'string' && deviceId !== '') out += `,"anonymous_id":${str(deviceId)}`;
  return out;
}

/** A value's JSON as JSON.stringify writes it in an object (undefined: the member is left out). */
function valueJson(value: unknown): string | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? `${value}` : str(value);
}

/**
 * `JSON.stringify(buildTrackPayload(...))` from its pieces, without building the payload: the
 * filter sends only the JSON. `ids` is identityJson of the event's ids, `timestamp` timestampOf
 * the event, `messageId` from messageIdFor (JSON-safe ASCII: written between quotes as it is),
 * `propertiesJson` and `userPropertiesJson` pickedJson of the event's properties and the profile.
 * Joined from an array of its pieces: one string of the payload's length, where concatenation
 * makes a string per piece and a copy of the whole when it is first read.
 */
export function trackPayloadJson(
  eventType: string,
  ids: string,
  timestamp: number,
  messageId: string,
  propertiesJson: string | undefined,
  userPropertiesJson: string | undefined,
): string {
  const event = valueJson(eventType);
  const time = valueJson(timestamp);
  return [
    '{"type":"track"',
    event === undefined ? '' : ',"event":',
    event ?? '',
    ids,
    time === undefined ? '' : ',"timestamp":',
    time ?? '',
    ',"message_id":"',
    messageId,
    propertiesJson === undefined ? '"' : '","properties":',
    propertiesJson ?? '',
    userPropertiesJson === undefined ? '' : ',"user_properties":',
    userPropertiesJson ?? '',
    '}',
  ].join('');
}

/** `JSON.stringify(buildIdentifyPayload(...))` from its pieces (see trackPayloadJson); `traitsJson` is pickedJson of the profile. */
export function identifyPayloadJson(ids: string, timestamp: number, messageId: string, traitsJson: string | undefined): string {
  const time = valueJson(timestamp);
  return [
    '{"type":"identify"',
    ids,
    time === undefined ? '' : ',"timestamp":',
    time ?? '',
    ',"message_id":"',
    messageId,
    traitsJson === undefined ? '"' : '","traits":',
    traitsJson ?? '',
    '}',
  ].join('');
}

export type DiscardReason = 'no user id or device id' | 'older than 30 days' | 'larger than maxRequestBytes';

/** Why a payload must not be sent, or undefined when it may. */
export function discardReason(
  payload: TrackPayload | IdentifyPayload,
  serializedBytes: number,
  maxRequestBytes: number,
  now: number,
): DiscardReason | undefined {
  return discardReasonOf(payload.user_id !== undefined || payload.anonymous_id !== undefined, payload.timestamp, serializedBytes, maxRequestBytes, now);
}

/** discardReason of a payload known by its pieces: whether it has an id (identityJson not ''), its timestamp and bytes. */
export function discardReasonOf(hasId: boolean, timestamp: number, serializedBytes: number, maxRequestBytes: number, now: number): DiscardReason | undefined {
  if (!hasId) return 'no user id or device id';
  if (now - timestamp > MAX_PAYLOAD_AGE_MS) return 'older than 30 days';
  if (serializedBytes >= maxRequestBytes) return 'larger than maxRequestBytes';
  return undefined;
}
