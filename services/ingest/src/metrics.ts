import { Counter, type Registry } from '@inkstream/service-kit';

export type IngestMetrics = ReturnType<typeof createIngestMetrics>;

export function createIngestMetrics(registry: Registry) {
  return {
    requests: new Counter({
      name: 'inkstream_ingest_requests_total',
      help: 'Ingest requests by endpoint and response code',
      labelNames: ['endpoint', 'code'] as const,
      registers: [registry],
    }),
    events: new Counter({
      name: 'inkstream_ingest_events_total',
      help: 'Events by outcome: stored, duplicate (already stored within the dedup window), rejected',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
  };
}
