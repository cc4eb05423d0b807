import {
  OUTCOME_SAMPLE_LIMIT,
  attemptClassOf,
  latencyBucketOf,
  type AggregateMinute,
  type DeliveryOutcome,
  type OutcomeAggregate,
  type OutcomeRecord,
  type OutcomeStatusFact,
} from './delivery-outcome.js';

const MINUTE_MS = 60_000;

export interface OutcomeAggregatorOptions {
  /** Delivered payloads sampled per message. Default OUTCOME_SAMPLE_LIMIT. */
  sampleLimit?: number;
  /**
   * Estimated JSON bytes of a sync's records at which its message should be sent at once
   * (NATS' max_payload is 1 MB by default; a record can carry 4 KB of error text). Default 256 KiB.
   */
  maxMessageBytes?: number;
  /** Payloads remembered as having failed here, so their delivery is listed (oldest forgotten first). Default 50,000. */
  rememberFailed?: number;
}

interface SyncWindow {
  syncId: string;
  from: number;
  to: number;
  minutes: Map<number, AggregateMinute & { buckets: Map<number, number> }>;
  payloads: OutcomeRecord[];
  samples: OutcomeRecord[];
  status: OutcomeStatusFact | undefined;
  bytes: number;
}

/** Results after which a payload is tried again: it has failed, and its delivery is a record. */
const TRIED_AGAIN = new Set<DeliveryOutcome['result']>(['retry', 'throttled', 'failing']);

/**
 * Folds per-attempt outcomes into one v2 `OutcomeAggregate` per sync (see its doc). Pure and
 * synchronous: the caller decides when to `take()` (about every second) and publishes.
 *
 * A delivery is a record (not only counted) when it is not a first attempt (`attempt > 1`) or
 * when this aggregator saw the payload fail or be throttled before: the projection then
 * settles the payload's pending retry and counts it as delivered after a retry. A payload
 * throttled (429 does not use an attempt) in one replica and delivered by another after a
 * hand-over is the one case this cannot see: it is counted as a first-attempt delivery and its
 * pending-retry row is pruned after the retry window (config service, prune.ts).
 */
export class OutcomeAggregator {
  private readonly windows = new Map<string, SyncWindow>();
  private readonly failed = new Set<string>();
  private readonly sampleLimit: number;
  private readonly maxMessageBytes: number;
  private readonly rememberFailed: number;

  constructor(options: OutcomeAggregatorOptions = {}) {
    this.sampleLimit = options.sampleLimit ?? OUTCOME_SAMPLE_LIMIT;
    this.maxMessageBytes = options.maxMessageBytes ?? 256 * 1024;
    this.rememberFailed = options.rememberFailed ?? 50_000;
  }

  /** Syncs with something to send. */
  get size(): number {
    return this.windows.size;
  }

  /** Adds an outcome; true when its sync's message is full and should be taken now. */
  add(outcome: DeliveryOutcome): boolean {
    let w = this.windows.get(outcome.syncId);
    if (!w) {
      w = { syncId: outcome.syncId, from: outcome.at, to: outcome.at, minutes: new Map(), payloads: [], samples: [], status: undefined, bytes: 256 };
      this.windows.set(outcome.syncId, w);
    }
    w.from = Math.min(w.from, outcome.at);
    w.to = Math.max(w.to, outcome.at);
    const key = `${outcome.syncId}\u0000${outcome.messageId}`;
    const { v: _v, syncId: _s, ...record } = outcome;

    const counted = outcome.result === 'delivered' && outcome.attempt <= 1 && !this.failed.has(key);
    if (counted) {
      this.count(w, outcome);
      if (w.samples.length < this.sampleLimit) {
        w.samples.push(record);
        w.bytes += recordBytes(record);
      }
    } else {
      w.payloads.push(record);
      w.bytes += recordBytes(record);
    }

    if (TRIED_AGAIN.has(outcome.result)) this.rememberFailure(key);
    else if (outcome.result !== 'discarded' || outcome.attempt > 0) this.failed.delete(key);

    const fact = statusFact(outcome);
    if (fact && (!w.status || w.status.at <= fact.at)) w.status = fact;
    return w.bytes >= this.maxMessageBytes;
  }

  /** The messages of every sync (or of one), emptied. */
  take(syncId?: string): OutcomeAggregate[] {
    const taken = syncId === undefined ? [...this.windows.values()] : [this.windows.get(syncId)].filter((w): w is SyncWindow => !!w);
    const out: OutcomeAggregate[] = [];
    for (const w of taken) {
      this.windows.delete(w.syncId);
      const message: OutcomeAggregate = {
        v: 2,
        syncId: w.syncId,
        from: w.from,
        to: w.to,
        minutes: [...w.minutes.values()]
          .sort((a, b) => a.minute - b.minute)
          .map(({ buckets, ...minute }) => ({ ...minute, latency: [...buckets].sort((a, b) => a[0] - b[0]) })),
        payloads: w.payloads,
        samples: w.samples,
      };
      if (w.status) message.status = w.status;
      out.push(message);
    }
    return out;
  }

  private count(w: SyncWindow, outcome: DeliveryOutcome): void {
    const start = Math.floor(outcome.at / MINUTE_MS) * MINUTE_MS;
    let m = w.minutes.get(start);
    if (!m) {
      m = {
        minute: start,
        results: {},
        deliveredFirstAttempt: 0,
        deliveredAfterRetry: 0,
        payloadTypes: {},
        attempts: {},
        latency: [],
        latencyMaxMs: 0,
        buckets: new Map(),
      };
      w.minutes.set(start, m);
    }
    m.results[outcome.result] = (m.results[outcome.result] ?? 0) + 1;
    m.payloadTypes[outcome.payloadType] = (m.payloadTypes[outcome.payloadType] ?? 0) + 1;
    if (outcome.attempt > 0) {
      const cls = attemptClassOf(outcome.status);
      m.attempts[cls] = (m.attempts[cls] ?? 0) + 1;
    }
    // Only first-attempt deliveries are counted (see add()).
    m.deliveredFirstAttempt++;
    const latencyMs = Math.max(0, Math.round(outcome.at - outcome.receivedAt));
    m.latencyMaxMs = Math.max(m.latencyMaxMs, latencyMs);
    const bucket = latencyBucketOf(latencyMs);
    m.buckets.set(bucket, (m.buckets.get(bucket) ?? 0) + 1);
  }

  private rememberFailure(key: string): void {
    this.failed.delete(key);
    this.failed.add(key);
    if (this.failed.size > this.rememberFailed) {
      const oldest = this.failed.values().next().value;
      if (oldest !== undefined) this.failed.delete(oldest);
    }
  }
}

function statusFact(outcome: DeliveryOutcome): OutcomeStatusFact | undefined {
  let state: OutcomeStatusFact['state'];
  switch (outcome.result) {
    case 'delivered':
      return { state: 'healthy', at: outcome.at };
    case 'retry':
    case 'throttled':
      state = 'retrying';
      break;
    case 'failing':
      state = 'failing';
      break;
    default:
      return undefined;
  }
  const fact: OutcomeStatusFact = { state, at: outcome.at };
  if (outcome.status !== undefined) fact.status = outcome.status;
  if (outcome.error !== undefined) fact.error = outcome.error;
  if (outcome.responseBody !== undefined) fact.responseBody = outcome.responseBody;
  return fact;
}

/** A cheap upper estimate of a record's JSON size. */
function recordBytes(record: OutcomeRecord): number {
  return 300 + (record.error?.length ?? 0) * 2 + (record.responseBody?.length ?? 0) * 2 + (record.reason?.length ?? 0) + record.messageId.length;
}
