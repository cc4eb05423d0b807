import { Counter, Gauge, Histogram, type Registry } from '@inkstream/service-kit';

export interface SyncGauges {
  id: string;
  inFlight: number;
  concurrencyLimit: number;
}

export type DeliveryMetrics = ReturnType<typeof createDeliveryMetrics>;

/** A count kept as a plain number, added to its counter when the registry is read. */
export class FoldedCount {
  n = 0;
  constructor(readonly labels: Record<string, string>) {}
}

/**
 * Counts of a hot path without prom-client's per-call cost (label validation and hashing on
 * every `inc`): the caller keeps a `FoldedCount` per label set and adds to it; the counter takes
 * what was added whenever it is collected (every scrape), so what `/metrics` shows is exact.
 */
export class FoldedCounts {
  // A handful per sync (results × status classes), kept for the life of the process like the
  // counter's own label sets.
  private readonly counts = new Map<string, FoldedCount>();

  /** The count of one label set (the same object for the same labels). */
  of(labels: Record<string, string>): FoldedCount {
    const key = JSON.stringify(labels);
    let count = this.counts.get(key);
    if (!count) {
      count = new FoldedCount(labels);
      this.counts.set(key, count);
    }
    return count;
  }

  /** Adds what was counted since the last time to `counter`. */
  flushInto(counter: { inc(labels: Record<string, string>, value: number): void }): void {
    for (const count of this.counts.values()) {
      if (count.n === 0) continue;
      const n = count.n;
      count.n = 0;
      counter.inc(count.labels, n);
    }
  }
}

/** Observations of one label set, kept as prom-client keeps them until they are added to it. */
export class FoldedObservations {
  /** Observations per bucket, by the position of its upper bound (not cumulative); past the last, only `count`. */
  readonly buckets: number[];
  sum = 0;
  count = 0;
  /** Where prom-client keeps this label set (its `hashMap` key), once found. */
  key: string | undefined;

  constructor(
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.buckets = bounds.map(() => 0);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.buckets[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** What prom-client's Histogram keeps per label set (a count per upper bound, not cumulative). */
interface HistogramEntry {
  labels: Record<string, string>;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/**
 * Observations of a hot path without prom-client's per-call cost (label validation and hashing
 * on every `observe`): kept per label set, and added to the histogram whenever it is collected
 * (every scrape), so what `/metrics` shows is exact. prom-client has no public call that adds
 * counts, so they go into its own per-label-set entry (created with `zero` when missing); the
 * test compares the text with that of a histogram observed value by value.
 */
export class FoldedHistogram {
  private readonly observations = new Map<string, FoldedObservations>();

  constructor(private readonly bounds: readonly number[]) {}

  /** The observations of one label set (the same object for the same labels). */
  of(labels: Record<string, string>): FoldedObservations {
    const key = JSON.stringify(labels);
    let folded = this.observations.get(key);
    if (!folded) {
      folded = new FoldedObservations(labels, this.bounds);
      this.observations.set(key, folded);
    }
    return folded;
  }

  /** Adds what was observed since the last time to `histogram` (made with the same buckets). */
  flushInto(histogram: Histogram<string>): void {
    const entries = (histogram as unknown as { hashMap: Record<string, HistogramEntry> }).hashMap;
    for (const folded of this.observations.values()) {
      if (folded.count === 0) continue;
      const entry = entryOf(histogram, entries, folded) ?? entryOf(histogram, entries, folded, true);
      if (!entry) continue;
      for (let i = 0; i < this.bounds.length; i++) entry.bucketValues[this.bounds[i]!]! += folded.buckets[i]!;
      entry.sum += folded.sum;
      entry.count += folded.count;
      folded.buckets.fill(0);
      folded.sum = folded.count = 0;
    }
  }
}

/** The histogram's entry of a label set: the one found before, or (`create`) found again or made. */
function entryOf(
  histogram: Histogram<string>,
  entries: Record<string, HistogramEntry>,
  folded: FoldedObservations,
  create = false,
): HistogramEntry | undefined {
  const known = folded.key !== undefined ? entries[folded.key] : undefined;
  if (known && sameLabels(known.labels, folded.labels)) return known;
  if (!create) return undefined;
  const find = () => Object.entries(entries).find(([, e]) => sameLabels(e.labels, folded.labels));
  let found = find();
  if (!found) {
    histogram.zero(folded.labels);
    found = find();
  }
  folded.key = found?.[0];
  return found?.[1];
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/** Buckets of the ingest-to-delivered latency, in seconds. */
const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600];

export function createDeliveryMetrics(registry: Registry) {
  const foldedAttempts = new FoldedCounts();
  const foldedPayloads = new FoldedCounts();
  const foldedLatency = new FoldedHistogram(LATENCY_BUCKETS);
  const attempts = new Counter({
    name: 'inkstream_delivery_attempts_total',
    help: 'HTTP attempts by sync and status class (2xx, 4xx, 5xx, 429, error)',
    labelNames: ['sync', 'status_class'] as const,
    registers: [registry],
    collect() {
      foldedAttempts.flushInto(this);
    },
  });
  const payloads = new Counter({
    name: 'inkstream_delivery_payloads_total',
    help: 'Payloads by sync and result (delivered, retry_scheduled, throttled, discarded, dead_lettered, skipped_duplicate: delivered before, skipped when its message came back)',
    labelNames: ['sync', 'result'] as const,
    registers: [registry],
    collect() {
      foldedPayloads.flushInto(this);
    },
  });
  return {
    attempts,
    payloads,
    /** Per-sync counts of the hot path, folded into `attempts` and `payloads` when collected. */
    folded: {
      attempt: (sync: string, statusClass: string) => foldedAttempts.of({ sync, status_class: statusClass }),
      payload: (sync: string, result: string) => foldedPayloads.of({ sync, result }),
      /** A sync's ingest-to-delivered latencies (seconds), folded into `latency` when collected. */
      latency: (sync: string) => foldedLatency.of({ sync }),
    },
    latency: new Histogram({
      name: 'inkstream_delivery_ingest_to_delivered_seconds',
      help: 'From ingest acceptance to the 2xx of Movable Ink',
      labelNames: ['sync'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
      collect() {
        foldedLatency.flushInto(this);
      },
    }),
    unreadable: new Counter({
      name: 'inkstream_delivery_messages_unreadable_total',
      help: 'Delivery stream messages that are neither a v1 job nor a v2 segment, terminated',
      labelNames: ['sync'] as const,
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'inkstream_delivery_dead_letters_total',
      help: 'Payloads stored as dead letters, by sync and reason',
      labelNames: ['sync', 'reason'] as const,
      registers: [registry],
    }),
  };
}

/** Gauges read from the running syncs whenever Prometheus scrapes. */
export function registerSyncGauges(registry: Registry, syncs: () => Iterable<SyncGauges>): void {
  new Gauge({
    name: 'inkstream_delivery_in_flight_requests',
    help: 'Requests in flight per sync',
    labelNames: ['sync'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of syncs()) this.set({ sync: s.id }, s.inFlight);
    },
  });
  new Gauge({
    name: 'inkstream_delivery_concurrency_limit',
    help: 'Current concurrency limit per sync (AIMD: halved on 429, +1 per healthy second)',
    labelNames: ['sync'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of syncs()) this.set({ sync: s.id }, s.concurrencyLimit);
    },
  });
}

const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

export function statusClass(status: number | undefined): string {
  if (status === undefined) return 'error';
  if (status === 429) return '429';
  return STATUS_CLASSES[Math.floor(status / 100)] ?? `${Math.floor(status / 100)}xx`;
}
