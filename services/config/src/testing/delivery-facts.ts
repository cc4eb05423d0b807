import { encodeJson } from '@inkstream/bus';
import type { DeadLetter, DeliveryJob, DeliveryOutcome, OutcomeMessage } from '@inkstream/contracts';
import { v1Outcome } from '@inkstream/contracts/testing';
import { messageIdFor } from '@inkstream/movable-ink';
import type { TestNats } from './nats.js';

/** A delivery outcome as the delivery service publishes it, with overrides. */
export function deliveryOutcome(syncId: string, overrides: Partial<DeliveryOutcome> = {}): DeliveryOutcome {
  const at = overrides.at ?? Date.now();
  return v1Outcome({ syncId, messageId: 'message-1', at, receivedAt: at - 1_000, requestMs: 5, ...overrides });
}

/**
 * Publishes outcomes onto the outcome stream in order, as delivery and filter do, and returns
 * the stream sequence of the last one.
 */
export async function publishOutcomes(nats: Pick<TestNats, 'bus' | 'topology'>, outcomes: readonly OutcomeMessage[]): Promise<number> {
  let seq = 0;
  for (const outcome of outcomes) {
    seq = (await nats.bus.js.publish(nats.topology.subjects.outcome(outcome.syncId), encodeJson(outcome))).seq;
  }
  return seq;
}

/** The n-th queued payload of a sync. */
export function deliveryJob(syncId: string, n: number, overrides: Partial<DeliveryJob> = {}): DeliveryJob {
  const messageId = messageIdFor(syncId, 'track', `event-${n}`);
  return {
    v: 1,
    syncId,
    projectId: '11111111-1111-4111-8111-111111111111',
    payloadType: 'track',
    messageId,
    userKey: `user-${n % 3}`,
    receivedAt: 1_767_225_600_000 + n,
    payload: {
      type: 'track',
      event: 'Order Completed',
      user_id: `user-${n % 3}`,
      timestamp: 1_767_225_600_000 + n,
      message_id: messageId,
      properties: { n, price: 9.5 },
    },
    ...overrides,
  };
}

/** A dead letter as delivery writes it, with overrides. */
export function deadLetter(job: DeliveryJob, overrides: Partial<DeadLetter> = {}): DeadLetter {
  return {
    v: 1,
    job,
    reason: 'rejected',
    lastStatus: 400,
    lastResponse: '{"error":"bad payload"}',
    attempts: 1,
    firstAttemptAt: job.receivedAt + 10,
    lastAttemptAt: job.receivedAt + 10,
    deadAt: job.receivedAt + 20,
    traceId: '0af7651916cd43dd8448eb211c80319c',
    ...overrides,
  };
}

/** Publishes dead letters onto `<ns>.deadletter.<syncId>`; returns their stream sequences. */
export async function publishDeadLetters(nats: Pick<TestNats, 'bus' | 'topology'>, letters: readonly DeadLetter[]): Promise<number[]> {
  const seqs: number[] = [];
  for (const letter of letters) {
    const ack = await nats.bus.js.publish(nats.topology.subjects.deadLetter(letter.job.syncId), encodeJson(letter), {
      msgID: `${letter.job.messageId}:${letter.deadAt}`,
    });
    seqs.push(ack.seq);
  }
  return seqs;
}
