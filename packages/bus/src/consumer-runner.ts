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
   * Before pulling, wait (at most this long) until the consumer has no unacknowledged messages
   * left from a previous owner — a crashed replica's in-flight messages come back after
   * ack_wait and must be handled before anything newer, or a user's order would break.
   */
  awaitForeignAcksMs?: number;
}

/**
 * Runs a pull consumer with the callback API (which batches acks into few socket writes),
 * keeps every handler's promise so shutdown can drain them, and re-attaches if the consume
 * loop ends unexpectedly.
 */
export class ConsumerRunner {
  private messages: ConsumerMessages | undefined;
  private readonly inFlight = new Map<Promise<void>, JsMsg>();
  private stopping = false;
  private loop: Promise<void> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly options: ConsumerRunnerOptions) {}

  get pending(): number {
    return this.inFlight.size;
  }

  start(): void {
    this.loop = this.run();
    this.heartbeat = setInterval(() => {
      for (const msg of this.inFlight.values()) msg.working();
    }, this.options.heartbeatMs ?? Math.floor(ACK_WAIT_MS / 3));
    this.heartbeat.unref();
  }

  private async run(): Promise<void> {
    const { js, stream, durable, logger } = this.options;
    while (!this.stopping) {
      let consumer: Consumer;
      try {
        consumer = await js.consumers.get(stream, durable);
        if (this.options.awaitForeignAcksMs) await this.awaitForeignAcks(consumer, this.options.awaitForeignAcksMs);
        if (this.stopping) return;
        this.messages = await consumer.consume({
          max_messages: this.options.maxMessages,
          callback: (msg) => this.dispatch(msg),
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

  private async awaitForeignAcks(consumer: Consumer, limitMs: number): Promise<void> {
    const deadline = Date.now() + limitMs;
    let logged = false;
    while (!this.stopping && Date.now() < deadline) {
      const info = await consumer.info(false);
      if (info.num_ack_pending === 0) return;
      if (!logged) {
        this.options.logger.info(
          { durable: this.options.durable, unacknowledged: info.num_ack_pending },
          'waiting for the previous owner’s unacknowledged messages to come back',
        );
        logged = true;
      }
      await sleep(500);
    }
  }

  private dispatch(msg: JsMsg): void {
    const p = this.options.onMessage(msg).catch((err) => {
      this.options.logger.error({ durable: this.options.durable, err: String(err) }, 'message handler failed');
    });
    this.inFlight.set(p, msg);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Stops pulling, then waits for every message already handed to the handler. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.messages?.close().catch(() => undefined);
    await this.loop;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.keys()]);
    if (this.heartbeat) clearInterval(this.heartbeat);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
