import { Type, type Static, type TSchema } from '@sinclair/typebox';
import {
  DEFAULT_MIN_ID_LENGTH,
  IDENTIFY_EVENT_TYPE,
  MAX_PROPERTY_DEPTH,
  MAX_STRING_LENGTH,
  depthExceeds,
  isRejectedId,
  userPropertiesValid,
  type AmplitudeEvent,
} from '@inkstream/contracts';
import { InvalidInputError } from '../errors.js';

// The rules of spec/ingest.md ("Validation (per event)"), so a preview refuses what ingest
// refuses: the preview of an event ingest would never accept means nothing.

export { DEFAULT_MIN_ID_LENGTH };
const MAX_DEPTH = MAX_PROPERTY_DEPTH;
const PROPERTY_OBJECTS = ['event_properties', 'user_properties', 'groups', 'group_properties'] as const;

/** JSON null counts as absent, as in Amplitude. */
const nullable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));
const Id = (description: string) => Type.String({ maxLength: MAX_STRING_LENGTH, description });
const PropertyObject = (description: string) => Type.Object({}, { additionalProperties: true, description });

const identityFields = {
  user_id: nullable(Id('At least 5 characters (options.min_id_length); user_id or device_id is required')),
  device_id: nullable(Id('At least 5 characters (options.min_id_length)')),
  user_properties: nullable(PropertyObject('Plain properties (treated as $set) or operations: $set, $setOnce, $add, $append, …')),
  groups: nullable(PropertyObject('Group type → value(s)')),
};

export const PreviewEventSchema = Type.Object(
  {
    event_type: Type.String({ minLength: 1, maxLength: MAX_STRING_LENGTH, description: 'Required, not blank' }),
    ...identityFields,
    time: nullable(Type.Integer({ minimum: 0, description: 'Milliseconds since epoch; absent = now' })),
    insert_id: nullable(Type.String({ maxLength: MAX_STRING_LENGTH, description: 'Decides the payload message_id' })),
    event_properties: nullable(PropertyObject('Event properties')),
    group_properties: nullable(PropertyObject('Only for $groupidentify')),
  },
  { additionalProperties: true, description: 'An event as the HTTP V2 API takes it (other Amplitude fields are carried along)' },
);

export const PreviewIdentificationSchema = Type.Object(identityFields, {
  additionalProperties: true,
  description: 'One identification as the Identify API takes it (it becomes a $identify)',
});

export const PreviewBodySchema = Type.Object(
  {
    event: Type.Optional(PreviewEventSchema),
    identification: Type.Optional(PreviewIdentificationSchema),
    options: Type.Optional(
      Type.Object(
        { min_id_length: Type.Integer({ minimum: 1, maximum: MAX_STRING_LENGTH, description: 'As in HTTP V2 options (default 5)' }) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, description: 'Exactly one of event and identification' },
);
export type PreviewBody = Static<typeof PreviewBodySchema>;

export interface PreviewSubject {
  kind: 'event' | 'identify';
  /** Nulls removed, `$identify` as event_type for an identification. */
  event: AmplitudeEvent;
  /** `user_id ?? device_id`. */
  userKey: string;
}

/** Checks what the schema cannot say and turns the body into the event ingest would store. */
export function previewSubject(body: PreviewBody): PreviewSubject {
  if (body.event !== undefined && body.identification !== undefined) {
    throw new InvalidInputError('body', 'must have only one of event and identification');
  }
  const minIdLength = body.options?.min_id_length ?? DEFAULT_MIN_ID_LENGTH;
  if (body.event !== undefined) {
    if (body.event.event_type.trim() === '') throw new InvalidInputError('body/event/event_type', 'must not be blank');
    const event = withoutNulls(body.event as Record<string, unknown>) as AmplitudeEvent;
    return { kind: 'event', event, userKey: checkIdentity(event, 'body/event', minIdLength) };
  }
  if (body.identification !== undefined) {
    const event = { ...withoutNulls(body.identification as Record<string, unknown>), event_type: IDENTIFY_EVENT_TYPE } as AmplitudeEvent;
    return { kind: 'identify', event, userKey: checkIdentity(event, 'body/identification', minIdLength) };
  }
  throw new InvalidInputError('body', 'must have either event or identification');
}

function checkIdentity(event: AmplitudeEvent, path: string, minIdLength: number): string {
  for (const field of ['user_id', 'device_id'] as const) {
    const id = event[field];
    if (id === undefined) continue;
    if (isRejectedId(id)) throw new InvalidInputError(`${path}/${field}`, `is an id Amplitude refuses (${JSON.stringify(id)})`);
    if (id.length < minIdLength) {
      throw new InvalidInputError(`${path}/${field}`, `must have at least ${minIdLength} characters (options.min_id_length)`);
    }
  }
  for (const [field, value] of Object.entries(event)) {
    if (typeof value === 'object' && value !== null && depthExceeds(value, MAX_DEPTH)) {
      throw new InvalidInputError(`${path}/${field}`, `must not be nested deeper than ${MAX_DEPTH} levels`);
    }
  }
  for (const field of PROPERTY_OBJECTS) {
    const value = event[field];
    if ((field === 'user_properties' || field === 'group_properties') && value && !userPropertiesValid(value as Record<string, unknown>)) {
      throw new InvalidInputError(`${path}/${field}`, 'must not mix operations ($set, $add, …) with plain properties, and each operation takes an object');
    }
  }
  const userKey = event.user_id ?? event.device_id;
  if (userKey === undefined) throw new InvalidInputError(path, 'must have user_id or device_id');
  return userKey;
}

function withoutNulls(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = v;
  return out;
}
