import { Type, type Static } from '@sinclair/typebox';
import { buildIdentifyPayload, buildRequest, classifyResponse } from '@inkstream/movable-ink';
import { UnopenableSecretError } from '@inkstream/secret-box';
import type { ConfigContext } from '../context.js';
import { ConflictError } from '../errors.js';
import { excerpt } from '../excerpt.js';
import { MovableInkPayloadSchema } from '../http/payload-schema.js';
import { findLiveSync } from './find.js';

/** Who the test payload is about: easy to recognise and to delete on Movable Ink's side. */
export const TEST_USER_ID = 'inkstream-test-user';

export const TestSendResultSchema = Type.Object(
  {
    ok: Type.Boolean({ description: 'The endpoint accepted it (2xx)' }),
    status: Type.Union([Type.Integer(), Type.Null()], { description: 'HTTP status; null when no response came' }),
    latencyMs: Type.Integer({ minimum: 0 }),
    responseBody: Type.String({ description: 'Start of the response body, at most 2 KB' }),
    error: Type.Union([Type.String(), Type.Null()], { description: 'Why no response came (timeout, refused, DNS, private address)' }),
    outcome: Type.Union(
      ['delivered', 'retry', 'throttled', 'failing', 'too-large', 'rejected'].map((k) => Type.Literal(k)),
      { description: 'What delivery would make of this answer; failing = credentials or endpoint wrong (401/403/404)' },
    ),
    requestId: Type.Union([Type.String(), Type.Null()], { description: "Movable Ink's x-request-id" }),
    payload: MovableInkPayloadSchema,
  },
  { description: 'The answer of the endpoint to one identify payload' },
);
export type TestSendResult = Static<typeof TestSendResultSchema>;

/**
 * Sends one identify payload for the test user to the sync's endpoint now, with its
 * authorization, as delivery would (same request, same address policy at connect time, the
 * sync's timeout) — enabled or not, so a sync can be tried before it is switched on. Its
 * message_id is the same every time for a sync, so Movable Ink can recognise repeats.
 */
export async function sendTestPayload(ctx: ConfigContext, input: { syncId: string }, now = Date.now()): Promise<TestSendResult> {
  const sync = await findLiveSync(ctx.db, input.syncId);
  const payload = buildIdentifyPayload(
    { syncId: sync.id, event: { event_type: '$identify', user_id: TEST_USER_ID }, eventKey: `test:${TEST_USER_ID}`, receivedAt: now, profile: {} },
    { eventProperties: [], userProperties: [] },
  );
  const request = buildRequest([payload], openAuthorization(ctx, sync.id, sync.authorizationSealed));
  const result = await ctx.sender.send(sync.endpointUrl, request, sync.delivery.requestTimeoutMs);
  const verdict = classifyResponse(result);
  const failed = result.error !== undefined;
  return {
    ok: verdict.kind === 'delivered',
    status: result.status ?? null,
    latencyMs: Math.max(0, Math.round(result.latencyMs)),
    responseBody: failed ? '' : (excerpt(result.responseExcerpt) ?? ''),
    error: failed ? result.responseExcerpt || String(result.error) : null,
    outcome: verdict.kind,
    requestId: result.requestId ?? null,
    payload,
  };
}

function openAuthorization(ctx: ConfigContext, syncId: string, sealed: string): string {
  try {
    return ctx.secretBox.open(sealed);
  } catch (err) {
    if (!(err instanceof UnopenableSecretError)) throw err;
    throw new ConflictError(
      `the authorization of sync ${syncId} was sealed under another SECRET_KEY and cannot be opened; ` +
        'set it again with PATCH /v1/syncs/:syncId {"authorization": …}',
    );
  }
}
