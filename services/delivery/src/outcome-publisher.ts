import type { DeadLetter, DeliveryOutcome } from '@inkstream/contracts';
import { encodeJson, type Bus, type Topology } from '@inkstream/bus';
import type { Logger } from '@inkstream/service-kit';

/**
 * Publishes the facts of delivery: an outcome per attempt (the config service projects them
 * into metrics, errors and status) and dead letters. A dead letter is awaited before the payload
 * is acked, so a payload is always either in the delivery stream or in the dead letters.
 */
export class OutcomePublisher {
  constructor(
    private readonly bus: Bus,
    private readonly topology: Topology,
    private readonly logger: Logger,
  ) {}

  /** Outcomes feed metrics; losing one must never hold up or repeat a delivery. */
  outcome(outcome: DeliveryOutcome): void {
    this.bus.js.publish(this.topology.subjects.outcome(outcome.syncId), encodeJson(outcome)).catch((err: unknown) => {
      this.logger.warn({ sync: outcome.syncId, err: String(err) }, 'outcome event not published');
    });
  }

  async deadLetter(letter: DeadLetter): Promise<void> {
    await this.bus.js.publish(this.topology.subjects.deadLetter(letter.job.syncId), encodeJson(letter), {
      msgID: `${letter.job.messageId}:${letter.deadAt}`,
    });
  }
}
