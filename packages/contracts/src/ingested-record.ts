import type { AmplitudeEvent } from './amplitude-event.js';

/**
 * One message on the ingest stream: a single accepted event (or one Identify API
 * identification) with what ingest learned when it accepted it. The W3C trace context of the
 * ingest request travels in the NATS message headers.
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
   * Also the JetStream message id (prefixed with the project), so retried requests dedupe.
   */
  eventKey: string;
  /** `user_id ?? device_id`: what orders and partitions the user's events. */
  userKey: string;
  event: AmplitudeEvent;
}
