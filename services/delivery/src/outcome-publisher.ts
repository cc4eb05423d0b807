import type { DeadLetter, DeliveryOutcome } from '@inkstream/contracts';
import { LeanPublisher, OutcomeSender, encodeJson, type Bus, type OutcomeSenderOptions, type Topology } from '@inkstream/bus';
import type { Logger } from '@inkstream/service-kit';

/**
 * Publishes the facts of delivery: outcomes (the config service projects them into metrics,
 * errors and status) and dead letters, both with one lean publisher (plain publish, one reply
 * inbox). Outcomes are folded per sync and sent as one aggregate about every second, with a
 * record per payload only for failures and the deliveries that end one (OutcomeSender); stop()
 * sends what is left. A dead letter is awaited before the payload is acked, so a payload is
 * always either in the delivery stream or in the dead letters.
 */
export class OutcomePublisher {
  private readonly publisher: LeanPublisher;
  private readonly sender: OutcomeSender;

  constructor(
    bus: Pick<Bus, 'nc'>,
    private readonly topology: Topology,
    logger: Logger,
    options: Omit<OutcomeSenderOptions, 'publisher'> = {},
  ) {
    this.publisher = new LeanPublisher(bus.nc);
    this.sender = new OutcomeSender(bus, topology, logger, { ...options, publisher: this.publisher });
  }

  /** Outcomes feed metrics; losing one must never hold up or repeat a delivery. */
  outcome(outcome: DeliveryOutcome): void {
    this.sender.outcome(outcome);
  }

  /** Sends the outcomes gathered so far now (tests; the sender does it every second). */
  flush(): Promise<void> {
    return this.sender.flush();
  }

  async deadLetter(letter: DeadLetter): Promise<void> {
    await this.publisher.publish(this.topology.subjects.deadLetter(letter.job.syncId), encodeJson(letter), {
      msgID: `${letter.job.messageId}:${letter.deadAt}`,
    });
  }

  /** After the consumers stopped: sends the outcomes left, then lets go of the publisher. */
  async stop(): Promise<void> {
    await this.sender.stop();
    this.publisher.close();
  }
}
