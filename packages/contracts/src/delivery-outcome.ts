import type { DeliveryJob } from './delivery-job.js';
import type { MovableInkPayload } from './movable-ink-payload.js';

/**
 * What happened to a payload, one event per attempt (and one for each payload that is
 * discarded or expires without one). Published on `<ns>.outcome.<syncId>`; the config service
 * projects them into the delivery metrics, error samples and the sync's status.
 */
export type OutcomeResult =
  /** 2xx. */
  | 'delivered'
  /** 408/5xx/timeout/connection error: will be retried. */
  | 'retry'
  /** 429: will be retried, does not consume the attempt budget. */
  | 'throttled'
  /** 401/403/404: the sync's credentials or endpoint are wrong; payloads are held. */
  | 'failing'
  /** Other 4xx, 501, 413 on a single payload: dead-lettered. */
  | 'rejected'
  /** Retry window over: dead-lettered. */
  | 'expired'
  /** Never sent (no ids, too old, too large) — counted, not dead-lettered. */
  | 'discarded'
  /** The sync was deleted while the payload waited: dead-lettered. */
  | 'dropped';

export interface DeliveryOutcome {
  v: 1;
  syncId: string;
  messageId: string;
  payloadType: MovableInkPayload['type'];
  result: OutcomeResult;
  /** HTTP status, when a response arrived. */
  status?: number;
  /** Attempt number of this payload (1 = first); 0 when no request was made. */
  attempt: number;
  /** Epoch ms of this outcome. */
  at: number;
  /** Epoch ms when ingest accepted the source event. */
  receivedAt: number;
  /** Duration of the HTTP request, ms. */
  requestMs?: number;
  /** Error text or response excerpt (≤ 2 KB) for anything but `delivered`. */
  error?: string;
  responseBody?: string;
  /** Movable Ink's `x-request-id`, when it sent one. */
  requestId?: string;
  traceId?: string;
  /** For `discarded`: why. */
  reason?: string;
}

/** A payload that will not be delivered by itself, kept for inspection and redrive. */
export interface DeadLetter {
  v: 1;
  job: DeliveryJob;
  reason: 'rejected' | 'expired' | 'sync deleted' | 'too large';
  lastStatus?: number;
  lastResponse?: string;
  lastError?: string;
  attempts: number;
  firstAttemptAt?: number;
  lastAttemptAt?: number;
  deadAt: number;
  traceId?: string;
}
