import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { BusLogger } from './connection.js';
import { isNotFound } from './declare.js';
import { ACK_WAIT_MS } from './topology.js';

export interface ConsumerRunnerOptions {
  js: JetStreamClient;
  stream: string;
  durable: string;
  /** How many messages the client keeps buffered (keep it modest so replicas share work). */
  maxMessages: number;
  /** Called for each message in delivery order. Must ack/nak the message itself. */
  onMessage: (msg: JsMsg) => Promise<void>;
  logger: BusLogger;
  /**
   * While a message is being handled (including waiting behind others), tell JetStream every
   * so often that it is still in progress, so a short ack_wait only redelivers after a crash.
   * Default ACK_WAIT_MS / 3; keep it well below the consumer's ack_wait.
   */
  heartbeatMs?: number;
  /**
   * Keep stream order across a change of owner. A previous owner (crashed, or handed over) may
   * have left messages unacknowledged: they come back only after its ack_wait or nak, and must
   * be handled before anything newer or a user's order would break. When set, the runner starts
   * by holding every message it receives until the consumer has no unacknowledged message
   * outside its hands (`num_ack_pending` = messages held), then hands them over in stream
   * order. This is the most it waits (default none: no restoring).
   */
  restoreOrderMs?: number;
  /** Former name of restoreOrderMs. */
  awaitForeignAcksMs?: number;
  /** How often the consumer is asked while restoring order. Default 250 ms. */
  restorePollMs?: number;
}

/**
 * Runs a pull consumer with the callback API (which batches acks into few socket writes),
 * keeps every handler's promise so shutdown can drain them, and re-attaches if the consume
 * loop ends unexpectedly. A message redelivered while its handler still runs (an ack_wait that
 * ran out during a stall) is not handed over twice.
 */
export class ConsumerRunner {
  private messages: ConsumerMessages | undefined;
  private readonly inFlight = new Map<number, { msg: JsMsg; done: Promise<void> }>();
  /** Messages held while order is being restored, by stream sequence. */
  private restoring: Map<number, JsMsg> | undefined;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly options: ConsumerRunnerOptions) {}

  /** Messages handed to the handler and not finished, plus those held while restoring order. */
  get pending(): number {
    return this.inFlight.size + (this.restoring?.size ?? 0);
  }

  /** True while the runner holds messages back to restore stream order. */
  get restoringOrder(): boolean {
    return this.restoring !== undefined;
  }

  start(): void {
    this.loop = this.run();
    this.heartbeat = setInterval(() => {
      for (const { msg } of this.inFlight.values()) msg.working();
      for (const msg of this.restoring?.values() ?? []) msg.working();
    }, this.options.heartbeatMs ?? Math.floor(ACK_WAIT_MS / 3));
    this.heartbeat.unref();
  }

  private async run(): Promise<void> {
    const { js, stream, durable, logger } = this.options;
    const restoreMs = this.options.restoreOrderMs ?? this.options.awaitForeignAcksMs;
    let first = true;
    while (!this.stopping) {
      let consumer: Consumer;
      try {
        consumer = await js.consumers.get(stream, durable);
        if (first && restoreMs) {
          const info = await consumer.info(false);
          if (info.num_ack_pending > 0) {
            this.restoring = new Map();
            void this.restoreOrder(consumer, info.num_ack_pending, restoreMs);
          }
        }
        first = false;
        if (this.stopping) return;
        this.messages = await consumer.consume({
          max_messages: this.options.maxMessages,
          callback: (msg) => this.receive(msg),
        });
      } catch (err) {
        if (this.stopping) return;
        logger.warn({ stream, durable, err: String(err), missing: isNotFound(err) }, 'consumer not available, retrying');
        await sleep(1_000);
        continue;
      }
      const result = await this.messages.closed();
      if (!this.stopping) {
        logger.warn({ stream, durable, err: result ? String(result) : undefined }, 'consume loop ended, re-attaching');
        await sleep(500);
      }
    }
  }

  /**
   * Holds messages until every unacknowledged message of the consumer is in our hands (the
   * previous owner's come back as redeliveries), then hands them all over in stream order.
   */
  private async restoreOrder(consumer: Consumer, foreign: number, limitMs: number): Promise<void> {
    const { logger, durable } = this.options;
    const deadline = Date.now() + limitMs;
    logger.info({ durable, unacknowledged: foreign }, 'holding messages until the previous owner’s unacknowledged ones are back');
    while (!this.stopping && this.restoring) {
      try {
        const info = await consumer.info(false);
        if (info.num_ack_pending <= this.restoring.size) break;
      } catch (err) {
        logger.warn({ durable, err: String(err) }, 'consumer info failed while restoring order');
      }
      if (Date.now() > deadline) {
        logger.warn({ durable, held: this.restoring.size }, 'previous owner’s messages did not all come back in time; going on');
        break;
      }
      await sleep(this.options.restorePollMs ?? 250);
    }
    const held = this.restoring;
    this.restoring = undefined;
    if (!held) return;
    const ordered = [...held.values()].sort((a, b) => a.seq - b.seq);
    if (this.stopping) {
      // Give them back in order; the next owner restores order the same way.
      for (const msg of ordered) msg.nak();
      return;
    }
    logger.info({ durable, messages: ordered.length }, 'order restored; handling held messages in stream order');
    for (const msg of ordered) this.dispatch(msg);
  }

  private receive(msg: JsMsg): void {
    // Stopping: give it straight back rather than keep it unacknowledged until ack_wait.
    if (this.stopping) {
      msg.nak();
      return;
    }
    if (this.restoring) {
      this.restoring.set(msg.seq, msg);
      return;
    }
    this.dispatch(msg);
  }

  private dispatch(msg: JsMsg): void {
    // A redelivery of a message whose handler still runs: that handler answers for it.
    if (this.inFlight.has(msg.seq)) return;
    const done = this.options.onMessage(msg).catch((err) => {
      this.options.logger.error({ durable: this.options.durable, err: String(err) }, 'message handler failed');
    });
    const entry = { msg, done };
    this.inFlight.set(msg.seq, entry);
    void done.finally(() => {
      if (this.inFlight.get(msg.seq) === entry) this.inFlight.delete(msg.seq);
    });
  }

  /** Stops pulling, then waits for every message already handed to the handler. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.messages?.close().catch(() => undefined);
    await this.loop;
    if (this.restoring) {
      const held = [...this.restoring.values()].sort((a, b) => a.seq - b.seq);
      this.restoring = undefined;
      for (const msg of held) msg.nak();
    }
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.values()].map((e) => e.done));
    if (this.heartbeat) clearInterval(this.heartbeat);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
