import type { DeliveryJob } from './delivery-job.js';
import type { MovableInkPayload } from './movable-ink-payload.js';

/**
 * What happened to a payload, one per attempt (and one for each payload that is discarded or
 * expires without one). Published on `<ns>.outcome.<syncId>`: by versions before issue 11 one
 * message each (v1, `DeliveryOutcome`); now folded per sync into about one `OutcomeAggregate`
 * (v2) a second. The config service projects both into the delivery metrics, error samples
 * and the sync's status.
 */
export type OutcomeResult =
  /** 2xx. */
  | 'delivered'
  /** 408/5xx/timeout/connection error: will be retried. */
  | 'retry'
  /** 429: will be retried, does not consume the attempt budget. */
  | 'throttled'
  /** 401/403/404: the sync's credentials or endpoint are wrong; payloads are held. */
  | 'failing'
  /** Other 4xx, 501, 413 on a single payload: dead-lettered. */
  | 'rejected'
  /** Retry window over: dead-lettered. */
  | 'expired'
  /** Never sent (no ids, too old, too large) — counted, not dead-lettered. */
  | 'discarded'
  /** The sync was deleted while the payload waited: dead-lettered. */
  | 'dropped';

export interface DeliveryOutcome {
  v: 1;
  syncId: string;
  messageId: string;
  payloadType: MovableInkPayload['type'];
  result: OutcomeResult;
  /** HTTP status, when a response arrived. */
  status?: number;
  /** Attempt number of this payload (1 = first); 0 when no request was made. */
  attempt: number;
  /** Epoch ms of this outcome. */
  at: number;
  /** Epoch ms when ingest accepted the source event. */
  receivedAt: number;
  /** Duration of the HTTP request, ms. */
  requestMs?: number;
  /** Error text or response excerpt (≤ 2 KB) for anything but `delivered`. */
  error?: string;
  responseBody?: string;
  /** Movable Ink's `x-request-id`, when it sent one. */
  requestId?: string;
  traceId?: string;
  /** For `discarded`: why. */
  reason?: string;
}

/** A payload that will not be delivered by itself, kept for inspection and redrive. */
export interface DeadLetter {
  v: 1;
  job: DeliveryJob;
  reason: 'rejected' | 'expired' | 'sync deleted' | 'too large';
  lastStatus?: number;
  lastResponse?: string;
  lastError?: string;
  attempts: number;
  firstAttemptAt?: number;
  lastAttemptAt?: number;
  deadAt: number;
  traceId?: string;
}

/**
 * v2: what one publisher (a delivery or filter replica) saw of one sync in about a second
 * (docs/delivery.md, "Outcomes"). Deliveries on their first attempt are only counted (per
 * minute, with the latency histogram of the projection); every other outcome — a failed
 * attempt, a throttle, a rejection, an expiry, a drop, a discard, and a delivery of a payload
 * that was tried before — is listed in `payloads`, one record each, as in v1, and is NOT in
 * the counts. A message never counts an outcome twice; `samples` are copies for looking a
 * payload's trace up and are counted in `minutes` already.
 */
export interface OutcomeAggregate {
  v: 2;
  syncId: string;
  /** Epoch ms of the first and last outcome in this message. */
  from: number;
  to: number;
  /** Counters of the outcomes not listed in `payloads`, per minute. */
  minutes: AggregateMinute[];
  /** Per-payload records, in the order they happened. */
  payloads: OutcomeRecord[];
  /** A few of the counted deliveries (at most OUTCOME_SAMPLE_LIMIT), for trace lookups: not counted again. */
  samples: OutcomeRecord[];
  /** The newest fact about the endpoint's health among everything in this message. */
  status?: OutcomeStatusFact;
}

/** A DeliveryOutcome without what the aggregate already says. */
export type OutcomeRecord = Omit<DeliveryOutcome, 'v' | 'syncId'>;

export interface OutcomeStatusFact {
  /** healthy: a delivery; retrying: a retryable failure or a 429; failing: 401/403/404. */
  state: 'healthy' | 'retrying' | 'failing';
  /** Epoch ms of the outcome that says it. */
  at: number;
  status?: number;
  error?: string;
  responseBody?: string;
}

export interface AggregateMinute {
  /** Epoch ms of the minute's start. */
  minute: number;
  /** Counted outcomes by result (only `delivered` today). */
  results: Partial<Record<OutcomeResult, number>>;
  /** Of the delivered: on the first attempt / after an earlier failure. */
  deliveredFirstAttempt: number;
  deliveredAfterRetry: number;
  /** Counted outcomes by payload type. */
  payloadTypes: Partial<Record<MovableInkPayload['type'], number>>;
  /** HTTP attempts among the counted outcomes, by status class. */
  attempts: Partial<Record<AttemptClass, number>>;
  /** ingest→delivered latency of the counted deliveries: [bucket index, count] (LATENCY_BUCKET_BOUNDS_MS). */
  latency: Array<[number, number]>;
  latencyMaxMs: number;
}

export type AttemptClass = '2xx' | '3xx' | '4xx' | '429' | '5xx' | 'error';

/** Either version, as it is found in the outcome stream. */
export type OutcomeMessage = DeliveryOutcome | OutcomeAggregate;

/** Delivered payloads kept as samples in one aggregate. */
export const OUTCOME_SAMPLE_LIMIT = 10;

/**
 * Upper bounds (ms, inclusive) of the fixed ingest→delivered latency buckets: bucket `i` holds
 * latencies in (bound[i-1], bound[i]], the last bucket (index = bounds.length) everything
 * longer. Fixed so that minutes, syncs, replicas and publishers add up; fine where Movable
 * Ink's p50/p99 targets are (tens to hundreds of ms), coarse where only Amplitude's p95 ≤ 60 s
 * matters, and up to the longest retry window (3 days). Changing them needs a new message version.
 */
export const LATENCY_BUCKET_BOUNDS_MS: readonly number[] = [
  10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000,
  3_600_000, 7_200_000, 14_400_000, 43_200_000, 86_400_000, 259_200_000,
];

export const LATENCY_BUCKETS = LATENCY_BUCKET_BOUNDS_MS.length + 1;

export function latencyBucketOf(latencyMs: number): number {
  const ms = Math.max(0, latencyMs);
  // Binary search for the first bound >= ms.
  let lo = 0;
  let hi = LATENCY_BUCKET_BOUNDS_MS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (LATENCY_BUCKET_BOUNDS_MS[mid]! >= ms) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The status class of an HTTP attempt; no status (or none a server sends as final) = `error`. */
export function attemptClassOf(status: number | undefined): AttemptClass {
  if (status === undefined || status < 200 || status >= 600) return 'error';
  if (status < 300) return '2xx';
  if (status < 400) return '3xx';
  if (status === 429) return '429';
  if (status < 500) return '4xx';
  return '5xx';
}

/**
 * The per-payload outcomes a message of either version stands for: a v1 message itself; a v2
 * aggregate's records and samples (the counted deliveries that are not sampled are not there).
 * For tools and tests that look for a payload's outcome; the projection reads the counts.
 */
export function outcomesIn(message: OutcomeMessage): DeliveryOutcome[] {
  if (message.v === 1) return [message];
  return [...message.payloads, ...message.samples]
    .map((record) => ({ v: 1 as const, syncId: message.syncId, ...record }))
    .sort((a, b) => a.at - b.at);
}
