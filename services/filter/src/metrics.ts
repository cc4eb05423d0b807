import { Counter, type Registry } from '@inkstream/service-kit';

export type FilterMetrics = ReturnType<typeof createFilterMetrics>;

export function createFilterMetrics(registry: Registry) {
  return {
    records: new Counter({
      name: 'inkstream_filter_records_total',
      help: 'Ingested events and identifications processed by the filter',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    payloads: new Counter({
      name: 'inkstream_filter_payloads_total',
      help: 'Payloads by sync, type and outcome (queued for delivery or discarded with a reason)',
      labelNames: ['sync', 'type', 'outcome', 'reason'] as const,
      registers: [registry],
    }),
    publishRetries: new Counter({
      name: 'inkstream_filter_publish_retries_total',
      help: 'Publishes to the delivery stream that failed and were retried',
      registers: [registry],
    }),
  };
}
