import { Type } from '@sinclair/typebox';

/** A Movable Ink payload (spec/pipeline.md): the fields it has; property objects stay as sent. */
export const MovableInkPayloadSchema = Type.Object(
  {
    type: Type.Union([Type.Literal('track'), Type.Literal('identify')]),
    event: Type.Optional(Type.String({ description: 'track: the event_type' })),
    user_id: Type.Optional(Type.String()),
    anonymous_id: Type.Optional(Type.String({ description: 'The device_id' })),
    timestamp: Type.Number({ description: 'Epoch ms: the event time, else when it was received' }),
    message_id: Type.String({ description: 'Stable across retries and redrives' }),
    properties: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'track: allow-listed event properties' })),
    user_properties: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'track: allow-listed user properties' })),
    traits: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'identify: allow-listed user properties' })),
  },
  { additionalProperties: true, description: 'One payload, exactly as sent to the endpoint' },
);
