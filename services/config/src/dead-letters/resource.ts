import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { DeadLetter } from '@inkstream/contracts';
import { excerpt } from '../excerpt.js';
import { MovableInkPayloadSchema } from '../http/payload-schema.js';

const time = (description: string) => Type.String({ format: 'date-time', description });
const orNull = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const DeadLetterSchema = Type.Object(
  {
    id: Type.String({ description: 'Its sequence in the dead-letter stream: what redrive takes' }),
    payload: MovableInkPayloadSchema,
    payloadType: Type.Union([Type.Literal('track'), Type.Literal('identify')]),
    messageId: Type.String(),
    reason: Type.Union(
      [Type.Literal('rejected'), Type.Literal('expired'), Type.Literal('too large'), Type.Literal('sync deleted')],
      { description: 'rejected: other 4xx/501; expired: retry window over; too large: 413 on one payload; sync deleted' },
    ),
    lastStatus: orNull(Type.Integer({ description: 'HTTP status of the last attempt' })),
    lastResponse: orNull(Type.String({ description: 'Start of the last response body or the network error, ≤ 2 KB' })),
    attempts: Type.Integer({ minimum: 0 }),
    firstAttemptAt: orNull(time('First attempt; null when never tried')),
    lastAttemptAt: orNull(time('Last attempt; null when never tried')),
    deadAt: time('When it became a dead letter'),
    traceId: orNull(Type.String({ description: 'Trace of the ingest request' })),
  },
  { description: 'A payload that will not be delivered by itself' },
);
export type DeadLetterItem = Static<typeof DeadLetterSchema>;

export const DEAD_LETTER_PAGE_MAX = 500;

export const DeadLettersQuerySchema = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: DEAD_LETTER_PAGE_MAX, default: 100, description: `Page size (default 100, at most ${DEAD_LETTER_PAGE_MAX})` }),
    cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,16}$', description: 'nextCursor of the previous page' })),
  },
  { additionalProperties: false },
);

export const DeadLetterPageSchema = Type.Object({
  items: Type.Array(DeadLetterSchema, { description: 'Oldest first' }),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'For the next page; null on the last one' }),
});
export type DeadLetterPage = Static<typeof DeadLetterPageSchema>;

export const RedriveBodySchema = Type.Object(
  {
    ids: Type.Optional(
      Type.Array(Type.String({ pattern: '^[0-9]{1,16}$' }), {
        minItems: 1,
        maxItems: DEAD_LETTER_PAGE_MAX,
        uniqueItems: true,
        description: 'Dead letters to send again (their id); omitted = all of this sync',
      }),
    ),
  },
  { additionalProperties: false },
);

export const RedriveResultSchema = Type.Object({
  redriven: Type.Integer({ minimum: 0, description: 'Sent back to the delivery queue and removed from the dead letters' }),
  notFound: Type.Array(Type.String(), { description: 'Listed ids that are not dead letters of this sync (any more)' }),
});
export type RedriveResult = Static<typeof RedriveResultSchema>;

export function toDeadLetterItem(seq: number, letter: DeadLetter): DeadLetterItem {
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  return {
    id: String(seq),
    payload: letter.job.payload,
    payloadType: letter.job.payloadType,
    messageId: letter.job.messageId,
    reason: letter.reason,
    lastStatus: letter.lastStatus ?? null,
    lastResponse: excerpt(letter.lastResponse ?? letter.lastError) ?? null,
    attempts: letter.attempts,
    firstAttemptAt: iso(letter.firstAttemptAt),
    lastAttemptAt: iso(letter.lastAttemptAt),
    deadAt: new Date(letter.deadAt).toISOString(),
    traceId: letter.traceId ?? null,
  };
}
