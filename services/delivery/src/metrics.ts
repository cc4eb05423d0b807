import { Counter, Gauge, Histogram, type Registry } from '@inkstream/service-kit';

export interface SyncGauges {
  id: string;
  inFlight: number;
  concurrencyLimit: number;
}

export type DeliveryMetrics = ReturnType<typeof createDeliveryMetrics>;

export function createDeliveryMetrics(registry: Registry) {
  return {
    attempts: new Counter({
      name: 'inkstream_delivery_attempts_total',
      help: 'HTTP attempts by sync and status class (2xx, 4xx, 5xx, 429, error)',
      labelNames: ['sync', 'status_class'] as const,
      registers: [registry],
    }),
    payloads: new Counter({
      name: 'inkstream_delivery_payloads_total',
      help: 'Payloads by sync and result (delivered, retry_scheduled, throttled, discarded, dead_lettered)',
      labelNames: ['sync', 'result'] as const,
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'inkstream_delivery_ingest_to_delivered_seconds',
      help: 'From ingest acceptance to the 2xx of Movable Ink',
      labelNames: ['sync'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
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

export function statusClass(status: number | undefined): string {
  if (status === undefined) return 'error';
  if (status === 429) return '429';
  return `${Math.floor(status / 100)}xx`;
}
