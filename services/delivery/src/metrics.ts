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

export function createDeliveryMetrics(registry: Registry) {
  const foldedAttempts = new FoldedCounts();
  const foldedPayloads = new FoldedCounts();
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
    },
    latency: new Histogram({
      name: 'inkstream_delivery_ingest_to_delivered_seconds',
      help: 'From ingest acceptance to the 2xx of Movable Ink',
      labelNames: ['sync'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
      registers: [registry],
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
