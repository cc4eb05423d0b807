import type { DeliveryOutcome, OutcomeAggregate, OutcomeMessage, OutcomeResult } from '@inkstream/contracts';
import { latencyBucketOf } from './latency-histogram.js';
import { describeFailure, statusFromOutcome, type ProjectedStatus } from './sync-status.js';

/** Error samples kept per sync. */
export const MAX_ERRORS_PER_SYNC = 1000;

const MINUTE_MS = 60_000;

export interface MinuteCounters {
  syncId: string;
  minute: Date;
  delivered: number;
  deliveredFirstAttempt: number;
  deliveredAfterRetry: number;
  expired: number;
  discarded: number;
  rejected: number;
  dropped: number;
  retried: number;
  throttled: number;
  failing: number;
  attempts2xx: number;
  attempts3xx: number;
  attempts4xx: number;
  attempts429: number;
  attempts5xx: number;
  attemptsError: number;
  latencyMaxMs: number;
}

export interface LatencyCount {
  syncId: string;
  minute: Date;
  bucket: number;
  count: number;
}

export interface ErrorSample {
  syncId: string;
  at: Date;
  result: OutcomeResult;
  status: number | null;
  error: string;
  responseBody: string;
  requestId: string | null;
  attempt: number;
  payloadType: DeliveryOutcome['payloadType'];
  messageId: string;
  traceId: string | null;
}

export interface PendingRetry {
  syncId: string;
  messageId: string;
  payloadType: DeliveryOutcome['payloadType'];
  result: OutcomeResult;
  attempt: number;
  status: number | null;
  /** When this batch first saw it fail; an existing row keeps its own. */
  firstFailedAt: Date;
  lastAt: Date;
}

export interface StatusChange extends ProjectedStatus {
  syncId: string;
  /** When the outcome that decided it happened: an older outcome never overrides a newer status. */
  at: Date;
}

/** Everything one batch of outcomes changes in the delivery views. */
export interface ProjectedBatch {
  minutes: MinuteCounters[];
  latency: LatencyCount[];
  /** Newest last; at most MAX_ERRORS_PER_SYNC per sync. */
  errors: ErrorSample[];
  pendingUpserts: PendingRetry[];
  pendingDeletes: Array<{ syncId: string; messageId: string }>;
  statuses: StatusChange[];
}

/** Will be tried again: the payload is a pending retry. */
const PENDING: ReadonlySet<OutcomeResult> = new Set(['retry', 'throttled', 'failing']);
/** Attempts that failed: kept as error samples. */
const FAILED_ATTEMPT: ReadonlySet<OutcomeResult> = new Set(['retry', 'throttled', 'failing', 'rejected']);

export const payloadKey = (syncId: string, messageId: string) => `${syncId}\u0000${messageId}`;

/** The per-payload outcomes of messages of either version, in stream order. */
export function recordsOf(messages: readonly OutcomeMessage[]): DeliveryOutcome[] {
  const out: DeliveryOutcome[] = [];
  for (const message of messages) {
    if (message.v === 1) out.push(message);
    else for (const record of message.payloads) out.push({ v: 1, syncId: message.syncId, ...record });
  }
  return out;
}

/**
 * The keys of the payloads whose pending-retry row matters to a batch: a delivery on what looks
 * like a first attempt (was it throttled or failed in an earlier batch?) and every other final
 * outcome (does it settle a pending retry?). A v2 aggregate's counted deliveries are not here:
 * their publisher saw no failure of theirs.
 */
export function pendingCandidates(outcomes: readonly DeliveryOutcome[]): Array<{ syncId: string; messageId: string }> {
  const seen = new Set<string>();
  const out: Array<{ syncId: string; messageId: string }> = [];
  for (const o of outcomes) {
    if (PENDING.has(o.result) || (o.result === 'discarded' && o.attempt === 0)) continue;
    const key = payloadKey(o.syncId, o.messageId);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ syncId: o.syncId, messageId: o.messageId });
  }
  return out;
}

/**
 * Folds messages of both versions (in stream order) into the changes they make: v1 outcomes
 * and v2 records as projectOutcomes does; a v2 aggregate's counters added as they are, and its
 * status fact taken when it is the newest. `pendingBefore` holds the keys of
 * `pendingCandidates` that have a pending-retry row: only those are deleted.
 */
export function projectMessages(messages: readonly OutcomeMessage[], pendingBefore: ReadonlySet<string>): ProjectedBatch {
  const batch = projectOutcomes(recordsOf(messages), pendingBefore);
  const aggregates = messages.filter((m): m is OutcomeAggregate => m.v === 2);
  if (aggregates.length === 0) return batch;

  const minutes = new Map(batch.minutes.map((m) => [`${m.syncId}|${m.minute.getTime()}`, m]));
  const latency = new Map(batch.latency.map((l) => [`${l.syncId}|${l.minute.getTime()}|${l.bucket}`, l]));
  const statuses = new Map(batch.statuses.map((s) => [s.syncId, s]));
  for (const aggregate of aggregates) {
    for (const m of aggregate.minutes) {
      const minute = new Date(m.minute);
      const key = `${aggregate.syncId}|${m.minute}`;
      let counters = minutes.get(key);
      if (!counters) minutes.set(key, (counters = emptyCounters(aggregate.syncId, minute)));
      const r = m.results;
      counters.delivered += r.delivered ?? 0;
      counters.deliveredFirstAttempt += m.deliveredFirstAttempt;
      counters.deliveredAfterRetry += m.deliveredAfterRetry;
      counters.expired += r.expired ?? 0;
      counters.discarded += r.discarded ?? 0;
      counters.rejected += r.rejected ?? 0;
      counters.dropped += r.dropped ?? 0;
      counters.retried += r.retry ?? 0;
      counters.throttled += r.throttled ?? 0;
      counters.failing += r.failing ?? 0;
      const a = m.attempts;
      counters.attempts2xx += a['2xx'] ?? 0;
      counters.attempts3xx += a['3xx'] ?? 0;
      counters.attempts4xx += a['4xx'] ?? 0;
      counters.attempts429 += a['429'] ?? 0;
      counters.attempts5xx += a['5xx'] ?? 0;
      counters.attemptsError += a.error ?? 0;
      counters.latencyMaxMs = Math.max(counters.latencyMaxMs, m.latencyMaxMs);
      for (const [bucket, count] of m.latency) {
        const bucketKey = `${key}|${bucket}`;
        const entry = latency.get(bucketKey);
        if (entry) entry.count += count;
        else latency.set(bucketKey, { syncId: aggregate.syncId, minute, bucket, count });
      }
    }
    const fact = aggregate.status;
    if (fact) {
      const current = statuses.get(aggregate.syncId);
      if (!current || current.at.getTime() <= fact.at) {
        const lastError =
          fact.state === 'healthy'
            ? null
            : describeFailure({ ...fact, v: 1, syncId: aggregate.syncId, messageId: '', payloadType: 'track', result: 'retry', attempt: 1, receivedAt: fact.at });
        statuses.set(aggregate.syncId, { syncId: aggregate.syncId, at: new Date(fact.at), state: fact.state, lastError });
      }
    }
  }
  return { ...batch, minutes: [...minutes.values()], latency: [...latency.values()], statuses: [...statuses.values()] };
}

/**
 * Folds outcomes (in stream order) into the changes they make to the delivery views. Pure:
 * `pendingBefore` holds the payload keys (`payloadKey`) that were pending retries before the
 * batch (at least those of `pendingCandidates`: only they are deleted), which tells a delivery after a retry from one on the first attempt even when the
 * payload was throttled (a 429 does not count as an attempt) or its earlier failures were
 * projected in another batch.
 */
export function projectOutcomes(outcomes: readonly DeliveryOutcome[], pendingBefore: ReadonlySet<string>): ProjectedBatch {
  const minutes = new Map<string, MinuteCounters>();
  const latency = new Map<string, LatencyCount>();
  const errorsBySync = new Map<string, ErrorSample[]>();
  const finals = new Map<string, DeliveryOutcome>();
  const failedHere = new Map<string, Date>();
  const statuses = new Map<string, StatusChange>();

  for (const outcome of outcomes) {
    const key = payloadKey(outcome.syncId, outcome.messageId);
    const minute = new Date(Math.floor(outcome.at / MINUTE_MS) * MINUTE_MS);
    const minuteKey = `${outcome.syncId}|${minute.getTime()}`;
    let counters = minutes.get(minuteKey);
    if (!counters) minutes.set(minuteKey, (counters = emptyCounters(outcome.syncId, minute)));

    if (outcome.attempt > 0 && outcome.result !== 'expired' && outcome.result !== 'dropped') countAttempt(counters, outcome.status);
    switch (outcome.result) {
      case 'delivered': {
        counters.delivered++;
        const afterRetry = outcome.attempt > 1 || pendingBefore.has(key) || failedHere.has(key);
        if (afterRetry) counters.deliveredAfterRetry++;
        else counters.deliveredFirstAttempt++;
        const latencyMs = Math.max(0, Math.round(outcome.at - outcome.receivedAt));
        counters.latencyMaxMs = Math.max(counters.latencyMaxMs, latencyMs);
        const bucket = latencyBucketOf(latencyMs);
        const bucketKey = `${minuteKey}|${bucket}`;
        const entry = latency.get(bucketKey);
        if (entry) entry.count++;
        else latency.set(bucketKey, { syncId: outcome.syncId, minute, bucket, count: 1 });
        break;
      }
      case 'retry':
        counters.retried++;
        break;
      case 'throttled':
        counters.throttled++;
        break;
      case 'failing':
        counters.failing++;
        break;
      case 'rejected':
        counters.rejected++;
        break;
      case 'expired':
        counters.expired++;
        break;
      case 'discarded':
        counters.discarded++;
        break;
      case 'dropped':
        counters.dropped++;
        break;
    }

    if (FAILED_ATTEMPT.has(outcome.result)) {
      let samples = errorsBySync.get(outcome.syncId);
      if (!samples) errorsBySync.set(outcome.syncId, (samples = []));
      samples.push(errorSample(outcome));
    }
    if (PENDING.has(outcome.result) && !failedHere.has(key)) failedHere.set(key, new Date(outcome.at));
    // A filter discard (attempt 0) never had payload state; delivery's (a single payload refused
    // with 413) settles a payload that may have been pending.
    if (outcome.result !== 'discarded' || outcome.attempt > 0) finals.set(key, outcome);

    const status = statusFromOutcome(outcome);
    const current = statuses.get(outcome.syncId);
    if (status && (!current || current.at.getTime() <= outcome.at)) {
      statuses.set(outcome.syncId, { syncId: outcome.syncId, at: new Date(outcome.at), ...status });
    }
  }

  const pendingUpserts: PendingRetry[] = [];
  const pendingDeletes: Array<{ syncId: string; messageId: string }> = [];
  for (const [key, outcome] of finals) {
    if (PENDING.has(outcome.result)) {
      pendingUpserts.push({
        syncId: outcome.syncId,
        messageId: outcome.messageId,
        payloadType: outcome.payloadType,
        result: outcome.result,
        attempt: outcome.attempt,
        status: outcome.status ?? null,
        firstFailedAt: failedHere.get(key) ?? new Date(outcome.at),
        lastAt: new Date(outcome.at),
      });
    } else if (pendingBefore.has(key)) {
      // Only a payload with a pending-retry row from an earlier batch has one to delete (one
      // that failed in this batch ends here, before any row was written).
      pendingDeletes.push({ syncId: outcome.syncId, messageId: outcome.messageId });
    }
  }

  const errors: ErrorSample[] = [];
  for (const samples of errorsBySync.values()) {
    // Stream order is near time order; the newest are what is kept.
    samples.sort((a, b) => a.at.getTime() - b.at.getTime());
    errors.push(...samples.slice(-MAX_ERRORS_PER_SYNC));
  }

  return {
    minutes: [...minutes.values()],
    latency: [...latency.values()],
    errors,
    pendingUpserts,
    pendingDeletes,
    statuses: [...statuses.values()],
  };
}

function emptyCounters(syncId: string, minute: Date): MinuteCounters {
  return {
    syncId,
    minute,
    delivered: 0,
    deliveredFirstAttempt: 0,
    deliveredAfterRetry: 0,
    expired: 0,
    discarded: 0,
    rejected: 0,
    dropped: 0,
    retried: 0,
    throttled: 0,
    failing: 0,
    attempts2xx: 0,
    attempts3xx: 0,
    attempts4xx: 0,
    attempts429: 0,
    attempts5xx: 0,
    attemptsError: 0,
    latencyMaxMs: 0,
  };
}

/** The status class of an HTTP attempt; no status (or none a server sends as final) = `error`. */
function countAttempt(counters: MinuteCounters, status: number | undefined): void {
  if (status === undefined || status < 200 || status >= 600) counters.attemptsError++;
  else if (status < 300) counters.attempts2xx++;
  else if (status < 400) counters.attempts3xx++;
  else if (status === 429) counters.attempts429++;
  else if (status < 500) counters.attempts4xx++;
  else counters.attempts5xx++;
}

function errorSample(outcome: DeliveryOutcome): ErrorSample {
  return {
    syncId: outcome.syncId,
    at: new Date(outcome.at),
    result: outcome.result,
    status: outcome.status ?? null,
    error: outcome.error?.trim() || (outcome.status !== undefined ? `HTTP ${outcome.status}` : 'no response'),
    responseBody: outcome.responseBody ?? '',
    requestId: outcome.requestId ?? null,
    attempt: outcome.attempt,
    payloadType: outcome.payloadType,
    messageId: outcome.messageId,
    traceId: outcome.traceId ?? null,
  };
}
