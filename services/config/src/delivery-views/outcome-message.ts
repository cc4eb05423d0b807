import {
  LATENCY_BUCKETS,
  type AggregateMinute,
  type DeliveryOutcome,
  type OutcomeAggregate,
  type OutcomeRecord,
  type OutcomeResult,
  type OutcomeStatusFact,
} from '@inkstream/contracts';
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

export type ReadOutcome =
  | { ok: true; outcome: DeliveryOutcome }
  | { ok: true; aggregate: OutcomeAggregate; problems?: string[] }
  | { ok: false; problem: string };

/** Minutes in one aggregate at most: it covers about a second (a few more when resent). */
const MAX_MINUTES = 10;
const MAX_RECORDS = 100_000;
const STATES: ReadonlySet<string> = new Set(['healthy', 'retrying', 'failing']);

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
  if (o.v === 2) return readAggregate(o);
  if (o.v !== 1) return { ok: false, problem: `unknown version ${JSON.stringify(o.v)}` };
  return readV1(o);
}

function readV1(o: Record<string, unknown>): { ok: true; outcome: DeliveryOutcome } | { ok: false; problem: string } {
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

/**
 * A v2 aggregate: counters validated as counts, each record like a v1 outcome (a record that is
 * not is left out and named in `problems`; the rest of the message is used). Samples are not
 * projected and not kept.
 */
function readAggregate(o: Record<string, unknown>): ReadOutcome {
  if (typeof o.syncId !== 'string' || !UUID.test(o.syncId)) return { ok: false, problem: 'syncId is not a uuid' };
  if (!isTime(o.from) || !isTime(o.to)) return { ok: false, problem: 'from/to are not times' };
  if (!Array.isArray(o.minutes) || o.minutes.length > MAX_MINUTES) return { ok: false, problem: 'minutes is not a short list' };
  if (!Array.isArray(o.payloads) || o.payloads.length > MAX_RECORDS) return { ok: false, problem: 'payloads is not a list' };
  const syncId = o.syncId.toLowerCase();
  const minutes: AggregateMinute[] = [];
  for (const raw of o.minutes) {
    const minute = readMinute(raw);
    if (typeof minute === 'string') return { ok: false, problem: minute };
    minutes.push(minute);
  }
  const payloads: OutcomeRecord[] = [];
  const problems: string[] = [];
  for (const raw of o.payloads) {
    const read = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? readV1({ ...(raw as object), v: 1, syncId }) : { ok: false as const, problem: 'not an object' };
    if (!read.ok) {
      problems.push(`record: ${read.problem}`);
      continue;
    }
    const { v: _v, syncId: _s, ...record } = read.outcome;
    payloads.push(record);
  }
  const aggregate: OutcomeAggregate = { v: 2, syncId, from: o.from, to: o.to, minutes, payloads, samples: [] };
  if (o.status !== undefined) {
    const status = readStatus(o.status);
    if (typeof status === 'string') problems.push(status);
    else aggregate.status = status;
  }
  return problems.length > 0 ? { ok: true, aggregate, problems } : { ok: true, aggregate };
}

function readMinute(raw: unknown): AggregateMinute | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'a minute is not an object';
  const m = raw as Record<string, unknown>;
  if (!isTime(m.minute) || m.minute % 60_000 !== 0) return 'minute is not the start of a minute';
  const results = countsOf(m.results, RESULTS);
  const payloadTypes = countsOf(m.payloadTypes, new Set(['track', 'identify']));
  const attempts = countsOf(m.attempts, new Set(['2xx', '3xx', '4xx', '429', '5xx', 'error']));
  if (!results || !payloadTypes || !attempts) return 'minute counts are not counts';
  if (!isCount(m.deliveredFirstAttempt) || !isCount(m.deliveredAfterRetry) || !isCount(m.latencyMaxMs)) return 'minute counts are not counts';
  if ((results.delivered ?? 0) !== m.deliveredFirstAttempt + m.deliveredAfterRetry) return 'delivered is not first attempt + after retry';
  if (!Array.isArray(m.latency)) return 'latency is not a list';
  const latency: Array<[number, number]> = [];
  for (const entry of m.latency) {
    if (!Array.isArray(entry) || entry.length !== 2 || !isCount(entry[0]) || entry[0] >= LATENCY_BUCKETS || !isCount(entry[1])) {
      return 'latency is not [bucket, count] pairs';
    }
    latency.push([entry[0], entry[1]]);
  }
  return {
    minute: m.minute,
    results,
    deliveredFirstAttempt: m.deliveredFirstAttempt,
    deliveredAfterRetry: m.deliveredAfterRetry,
    payloadTypes,
    attempts,
    latency,
    latencyMaxMs: m.latencyMaxMs,
  } as AggregateMinute;
}

function countsOf(raw: unknown, keys: ReadonlySet<string>): Record<string, number> | undefined {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!keys.has(key) || !isCount(value)) return undefined;
    out[key] = value;
  }
  return out;
}

function readStatus(raw: unknown): OutcomeStatusFact | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'status is not an object';
  const s = raw as Record<string, unknown>;
  if (typeof s.state !== 'string' || !STATES.has(s.state)) return 'status state unknown';
  if (!isTime(s.at)) return 'status at is not a time';
  const fact: OutcomeStatusFact = { state: s.state as OutcomeStatusFact['state'], at: s.at };
  if (isCount(s.status) && s.status >= 100 && s.status <= 999) fact.status = s.status;
  const error = excerpt(s.error);
  if (error !== undefined) fact.error = error;
  const responseBody = excerpt(s.responseBody);
  if (responseBody !== undefined) fact.responseBody = responseBody;
  return fact;
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
