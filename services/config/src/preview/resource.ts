import { Type, type Static } from '@sinclair/typebox';
import { MovableInkPayloadSchema } from '../http/payload-schema.js';

export const PreviewResultSchema = Type.Object(
  {
    selected: Type.Boolean({ description: 'Whether the event (as a track) or the identification (as an identify) would be sent' }),
    reason: Type.Optional(Type.String({ description: 'Why it would not, e.g. "no eventFilters row matches …" or "discarded: older than 30 days"' })),
    payloads: Type.Array(MovableInkPayloadSchema, { description: 'Exactly what would be sent, in order (an identify before its track)' }),
    discarded: Type.Array(
      Type.Object({
        payloadType: Type.Union([Type.Literal('track'), Type.Literal('identify')]),
        messageId: Type.String(),
        reason: Type.String({ description: 'no user id or device id, older than 30 days, larger than maxRequestBytes' }),
      }),
      { description: 'Payloads that would be built but not sent' },
    ),
    notes: Type.Array(Type.String(), { description: 'What else applies: a disabled sync, a user new to the filter, …' }),
  },
  { description: 'A dry run of the filter for one sync: nothing is sent or stored' },
);
export type PreviewResult = Static<typeof PreviewResultSchema>;
