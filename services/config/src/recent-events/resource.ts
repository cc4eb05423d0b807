import { Type, type Static } from '@sinclair/typebox';
import { RECENT_SCAN_MESSAGES } from './read-recent-records.js';

export const RecentEventsQuerySchema = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 20, description: 'How many, newest first (default 20, at most 200)' }),
  },
  { additionalProperties: false },
);

export const RecentEventSchema = Type.Object(
  {
    receivedAt: Type.String({ format: 'date-time', description: 'When ingest accepted it' }),
    kind: Type.Union([Type.Literal('event'), Type.Literal('identify')], {
      description: 'event: HTTP V2 / Batch API; identify: Identify API (preview it as `{identification}`)',
    }),
    event: Type.Object({ event_type: Type.String() }, { additionalProperties: true, description: 'The event as ingest stored it' }),
  },
  { description: 'An event ingest accepted for the project' },
);

export const RecentEventsSchema = Type.Object(
  {
    events: Type.Array(RecentEventSchema),
    scanned: Type.Integer({ minimum: 0, description: `Messages of the ingest stream looked at (its last ${RECENT_SCAN_MESSAGES}, all projects)` }),
  },
  { description: "A project's recently ingested events, newest first" },
);
export type RecentEvents = Static<typeof RecentEventsSchema>;

const SeenNameSchema = Type.Object({
  name: Type.String(),
  count: Type.Integer({ minimum: 1, description: 'How many of the sampled events had it' }),
});

export const EventCatalogSchema = Type.Object(
  {
    eventTypes: Type.Array(SeenNameSchema, { description: 'Event types, most frequent first ($identify for identifications)' }),
    eventProperties: Type.Array(SeenNameSchema, { description: 'Top-level event_properties keys' }),
    userProperties: Type.Array(SeenNameSchema, { description: 'user_properties keys, inside $set-style operations too' }),
    fields: Type.Array(SeenNameSchema, { description: 'Top-level event fields present (user_id, platform, country, …)' }),
    sampled: Type.Integer({ minimum: 0, description: 'How many of the project’s events the names come from' }),
  },
  { description: 'Names seen in recently ingested events, for suggestions (at most 200 per list)' },
);
