import { Counter, Gauge, type Registry } from '@inkstream/service-kit';
import type { BacklogSnapshot } from './backlog-verdict.js';
import type { InFlightBudget } from './in-flight.js';

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
    refused: new Counter({
      name: 'inkstream_ingest_refused_total',
      help: 'Requests pushed back (429/503 with Retry-After) by reason: in_flight, jetstream_unavailable, publish_failed, backlog, stream_bytes',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
  };
}

/** What the push-back bounds look at, as gauges. */
export function registerPushBackGauges(registry: Registry, inFlight: InFlightBudget, backlog: () => BacklogSnapshot | undefined): void {
  new Gauge({
    name: 'inkstream_ingest_in_flight_requests',
    help: 'Requests being read, validated or stored now',
    registers: [registry],
    collect() {
      this.set(inFlight.requests);
    },
  });
  new Gauge({
    name: 'inkstream_ingest_in_flight_bytes',
    help: 'Body bytes held by requests in flight (received plus decoded)',
    registers: [registry],
    collect() {
      this.set(inFlight.bytes);
    },
  });
  new Gauge({
    name: 'inkstream_ingest_backlog_messages',
    help: 'Events in the ingest stream the filter has not finished, as last read',
    registers: [registry],
    collect() {
      const snapshot = backlog();
      if (snapshot) this.set(snapshot.messages);
    },
  });
  new Gauge({
    name: 'inkstream_ingest_stream_bytes',
    help: 'Bytes held by the ingest stream, as last read',
    registers: [registry],
    collect() {
      const snapshot = backlog();
      if (snapshot) this.set(snapshot.streamBytes);
    },
  });
}
