import { Counter, Gauge, Histogram, type Registry } from '@inkstream/service-kit';

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
      help: 'Payloads by sync and result (delivered, retry_scheduled)',
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
    inFlight: new Gauge({
      name: 'inkstream_delivery_in_flight_requests',
      help: 'Requests in flight per sync',
      labelNames: ['sync'] as const,
      registers: [registry],
    }),
    concurrencyLimit: new Gauge({
      name: 'inkstream_delivery_concurrency_limit',
      help: 'Current concurrency limit per sync',
      labelNames: ['sync'] as const,
      registers: [registry],
    }),
  };
}

export function statusClass(status: number | undefined): string {
  if (status === undefined) return 'error';
  if (status === 429) return '429';
  return `${Math.floor(status / 100)}xx`;
}
