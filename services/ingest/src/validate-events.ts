import {
  DEFAULT_MIN_ID_LENGTH,
  MAX_PROPERTY_DEPTH,
  MAX_STRING_LENGTH,
  depthExceeds,
  isPlainObject,
  isRejectedId,
  userPropertiesValid,
  type AmplitudeEvent,
} from '@inkstream/contracts';
import type { IndexLists, InvalidEvents } from './amplitude-responses.js';

// The rules themselves are shared with the preview API (packages/contracts, amplitude-rules).
export { DEFAULT_MIN_ID_LENGTH, MAX_STRING_LENGTH, depthExceeds, isPlainObject, userPropertiesValid };
export const MAX_DEPTH = MAX_PROPERTY_DEPTH;

const PROPERTY_OBJECTS = ['event_properties', 'user_properties', 'groups', 'group_properties'] as const;
const PROPERTY_OBJECT_NAMES: ReadonlySet<string> = new Set(PROPERTY_OBJECTS);

export class EventProblems {
  readonly invalid: IndexLists = {};
  readonly missing: IndexLists = {};
  readonly idLengths: IndexLists = {};
  private count = 0;

  add(list: IndexLists, field: string, index: number): void {
    const indexes = (list[field] ??= []);
    if (indexes[indexes.length - 1] !== index) indexes.push(index);
    this.count++;
  }

  get empty(): boolean {
    return this.count === 0;
  }

  toLists(): InvalidEvents {
    return {
      events_with_invalid_fields: this.invalid,
      events_with_missing_fields: this.missing,
      events_with_invalid_id_lengths: this.idLengths,
    };
  }
}



/** `options.min_id_length` when it is a positive integer, else Amplitude's default. */
export function minIdLengthOf(options: unknown): number {
  if (isPlainObject(options)) {
    const v = options.min_id_length;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_STRING_LENGTH) return v;
  }
  return DEFAULT_MIN_ID_LENGTH;
}

function checkId(
  value: unknown,
  field: 'user_id' | 'device_id',
  index: number,
  minIdLength: number,
  p: EventProblems,
): boolean {
  if (typeof value !== 'string' || isRejectedId(value) || value.length > MAX_STRING_LENGTH) {
    p.add(p.invalid, field, index);
    return false;
  }
  if (value.length < minIdLength) {
    p.add(p.idLengths, field, index);
    return false;
  }
  return true;
}


/** A property object: absent, or an object nested no deeper than the limit (of operations only, or none, for user and group properties). */
function propertyObjectValid(
  value: unknown,
  field: (typeof PROPERTY_OBJECTS)[number],
  operations: boolean,
  index: number,
  p: EventProblems,
  shallow: boolean,
): boolean {
  if (value === undefined || value === null) return true;
  if (!isPlainObject(value) || (!shallow && depthExceeds(value, MAX_DEPTH)) || (operations && !userPropertiesValid(value))) {
    p.add(p.invalid, field, index);
    return false;
  }
  return true;
}

/**
 * Checks one event against spec/ingest.md and records every problem under the event's index.
 * Returns true when the event is acceptable. `shallow`: the caller knows that nothing in the
 * event nests deeper than MAX_DEPTH (from its text, scanEventsBody), so depths are not walked.
 */
export function validateEvent(raw: unknown, index: number, minIdLength: number, p: EventProblems, shallow = false): raw is AmplitudeEvent {
  if (!isPlainObject(raw)) {
    p.add(p.invalid, 'event', index);
    return false;
  }
  let ok = true;
  const eventType = raw.event_type;
  if (eventType === undefined || eventType === null || (typeof eventType === 'string' && eventType.trim() === '')) {
    p.add(p.missing, 'event_type', index);
    ok = false;
  } else if (typeof eventType !== 'string' || eventType.length > MAX_STRING_LENGTH) {
    p.add(p.invalid, 'event_type', index);
    ok = false;
  }

  const userId = raw.user_id ?? undefined;
  const deviceId = raw.device_id ?? undefined;
  if (userId === undefined && deviceId === undefined) {
    p.add(p.missing, 'user_id', index);
    ok = false;
  }
  if (userId !== undefined && !checkId(userId, 'user_id', index, minIdLength, p)) ok = false;
  if (deviceId !== undefined && !checkId(deviceId, 'device_id', index, minIdLength, p)) ok = false;

  const time = raw.time;
  if (time !== undefined && time !== null && !(typeof time === 'number' && Number.isSafeInteger(time) && time >= 0)) {
    p.add(p.invalid, 'time', index);
    ok = false;
  }

  // Read by name, not in a loop over PROPERTY_OBJECTS: a load by a computed key is a generic
  // lookup per field and event.
  if (!propertyObjectValid(raw.event_properties, 'event_properties', false, index, p, shallow)) ok = false;
  if (!propertyObjectValid(raw.user_properties, 'user_properties', true, index, p, shallow)) ok = false;
  if (!propertyObjectValid(raw.groups, 'groups', false, index, p, shallow)) ok = false;
  if (!propertyObjectValid(raw.group_properties, 'group_properties', true, index, p, shallow)) ok = false;

  // Every other field is carried along as sent, so it is bounded like the property objects:
  // storing and hashing an event walks it recursively, and a field nested 100,000 deep would
  // overflow the stack there.
  if (shallow) return ok;
  for (const field in raw) {
    const value = raw[field];
    if (typeof value !== 'object' || value === null || !Object.hasOwn(raw, field) || PROPERTY_OBJECT_NAMES.has(field)) continue;
    if (depthExceeds(value, MAX_DEPTH)) {
      p.add(p.invalid, field.length <= MAX_STRING_LENGTH ? field : 'event', index);
      ok = false;
    }
  }
  return ok;
}

/** Removes the JSON nulls Amplitude treats as absent, so downstream code sees `undefined`. Answers `event` itself when it has none. */
export function normaliseEvent(event: AmplitudeEvent): AmplitudeEvent {
  // Most events have no nulls: they are kept as they are (the same object).
  let nulls = false;
  for (const k in event) {
    if (event[k] === null) {
      nulls = true;
      break;
    }
  }
  if (!nulls) return event;
  const out: AmplitudeEvent = { ...event };
  for (const [k, v] of Object.entries(out)) if (v === null) delete out[k];
  return out;
}
