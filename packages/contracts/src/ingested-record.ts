import type { AmplitudeEvent } from './amplitude-event.js';

/**
 * A single accepted event (or one Identify API identification) with what ingest learned when it
 * accepted it. Version 1 of the ingest stream's messages was one of these per message (older
 * ingest versions wrote them; the filter still reads them). Ingest now writes segments
 * (IngestedSegment, v2) of several records; the filter and the other readers turn both into
 * IngestedRecords with recordsOfIngestMessage. The W3C trace context of the ingest request
 * travels in the NATS message headers.
 */
export interface IngestedRecord {
  v: 1;
  /** `event` for HTTP V2 / Batch events, `identify` for Identify API identifications. */
  kind: 'event' | 'identify';
  projectId: string;
  /** Server receive time, epoch ms. */
  receivedAt: number;
  /**
   * Stable per-event key: the event's `insert_id`, else a deterministic hash of the event.
   * Part of the JetStream message id (with the project): v1 a hash of both, v2 a hash of the
   * project and every key of the segment, so retried requests dedupe.
   */
  eventKey: string;
  /** `user_id ?? device_id`: what orders and partitions the user's events. */
  userKey: string;
  event: AmplitudeEvent;
}
