import type { DeliveryOutcome, OutcomeResult } from '@inkstream/contracts';
import { excerpt } from '../excerpt.js';

export const OUTCOME_RESULTS: readonly OutcomeResult[] = [
  'delivered',
  'retry',
  'throttled',
  'failing',
  'rejected',
  'expired',
  'discarded',
  'dropped',
];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RESULTS: ReadonlySet<string> = new Set(OUTCOME_RESULTS);
// Epoch ms between 2000 and 2200: anything else is not a time an outcome can have.
const MIN_TIME = 946_684_800_000;
const MAX_TIME = 7_258_118_400_000;

export type ReadOutcome = { ok: true; outcome: DeliveryOutcome } | { ok: false; problem: string };

/**
 * An outcome message as the projection may trust it, or why it cannot be used. Other services
 * write the stream; what the projection stores (uuid columns, counters) must not be able to
 * fail on a malformed message and hold up every outcome after it.
 */
export function readOutcomeMessage(data: Uint8Array): ReadOutcome {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, problem: 'not an object' };
  const o = raw as Record<string, unknown>;
  if (o.v !== 1) return { ok: false, problem: `unknown version ${JSON.stringify(o.v)}` };
  if (typeof o.syncId !== 'string' || !UUID.test(o.syncId)) return { ok: false, problem: 'syncId is not a uuid' };
  if (typeof o.messageId !== 'string' || o.messageId === '' || o.messageId.length > 200) {
    return { ok: false, problem: 'messageId missing or too long' };
  }
  if (o.payloadType !== 'track' && o.payloadType !== 'identify') return { ok: false, problem: 'unknown payloadType' };
  if (typeof o.result !== 'string' || !RESULTS.has(o.result)) return { ok: false, problem: 'unknown result' };
  if (!isTime(o.at)) return { ok: false, problem: 'at is not a time' };
  if (!isTime(o.receivedAt)) return { ok: false, problem: 'receivedAt is not a time' };
  if (!isCount(o.attempt)) return { ok: false, problem: 'attempt is not a count' };
  if (o.status !== undefined && !(isCount(o.status) && o.status >= 100 && o.status <= 999)) {
    return { ok: false, problem: 'status is not an HTTP status' };
  }

  const outcome: DeliveryOutcome = {
    v: 1,
    syncId: o.syncId.toLowerCase(),
    messageId: o.messageId,
    payloadType: o.payloadType,
    result: o.result as OutcomeResult,
    attempt: o.attempt,
    at: o.at,
    receivedAt: o.receivedAt,
  };
  if (typeof o.status === 'number') outcome.status = o.status;
  if (typeof o.requestMs === 'number' && Number.isFinite(o.requestMs)) outcome.requestMs = o.requestMs;
  const error = excerpt(o.error);
  if (error !== undefined) outcome.error = error;
  const responseBody = excerpt(o.responseBody);
  if (responseBody !== undefined) outcome.responseBody = responseBody;
  const requestId = short(o.requestId, 200);
  if (requestId !== undefined) outcome.requestId = requestId;
  const traceId = short(o.traceId, 64);
  if (traceId !== undefined) outcome.traceId = traceId;
  const reason = short(o.reason, 200);
  if (reason !== undefined) outcome.reason = reason;
  return { ok: true, outcome };
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= MIN_TIME && value <= MAX_TIME;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= 2_147_483_647;
}

function short(value: unknown, maxLength: number): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  return excerpt(value.slice(0, maxLength));
}
