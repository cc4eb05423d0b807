import type { MovableInkPayload } from './movable-ink-payload.js';

/**
 * One payload for one sync, on the delivery stream (`delivery.<syncId>.<partition>`).
 * The JetStream message id is `messageId`, so a filter that republishes after a crash
 * does not create a second delivery within the dedup window.
 */
export interface DeliveryJob {
  v: 1;
  syncId: string;
  projectId: string;
  payloadType: MovableInkPayload['type'];
  messageId: string;
  userKey: string;
  /** When ingest accepted the source event, epoch ms: the start of the ingest→delivered latency. */
  receivedAt: number;
  payload: MovableInkPayload;
}
