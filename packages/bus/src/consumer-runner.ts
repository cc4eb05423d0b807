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
   * Keep stream order across a change of owner and across deliveries lost in transit. A
   * previous owner (crashed, or handed over) may have left messages unacknowledged, and a
   * delivery the server made to this runner can be lost on the way (a reconnect, a consumer
   * leader change, a pull re-issued): such messages come back only after ack_wait or a nak,
   * and must be handled before anything newer or a user's order would break. When set, the
   * runner holds every message it receives until the consumer has no unacknowledged message
   * outside its hands (`num_ack_pending` = messages held + handed out and not yet answered),
   * then hands the held ones over in stream order. It does so on every attach where the
   * consumer has unacknowledged messages it does not hold, and whenever a delivery sequence
   * is skipped or goes back. This is the most it waits each time (default none: no restoring).
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
  /** The consumer attached now (set only when restoring order is on). */
  private consumer: Consumer | undefined;
  /** Highest consumer delivery sequence seen since the last attach (restoring order only). */
  private lastDelivery: number | undefined;
  /** Times order was restored after the first attach (a gap or a re-attach). */
  private restores = 0;

  constructor(private readonly options: ConsumerRunnerOptions) {}

  /** Messages handed to the handler and not finished, plus those held while restoring order. */
  get pending(): number {
    return this.inFlight.size + (this.restoring?.size ?? 0);
  }

  /** True while the runner holds messages back to restore stream order. */
  get restoringOrder(): boolean {
    return this.restoring !== undefined;
  }

  /** How many times order was restored after a lost delivery or a re-attach (not the first attach). */
  get orderRestores(): number {
    return this.restores;
  }

  private get restoreLimitMs(): number | undefined {
    return this.options.restoreOrderMs ?? this.options.awaitForeignAcksMs;
  }

  /**
   * Unacknowledged messages in our hands (held, or handed out and not yet answered) that the
   * server had delivered by its delivery sequence `delivered`: what it counts in
   * num_ack_pending for us in a consumer info taken then. Messages that arrived after the info
   * was taken are not in its count and must not be in ours.
   */
  private heldAt(delivered: number): number {
    let n = 0;
    for (const { msg } of this.inFlight.values()) if (!answered(msg) && msg.info.deliverySequence <= delivered) n++;
    for (const msg of this.restoring?.values() ?? []) if (msg.info.deliverySequence <= delivered) n++;
    return n;
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
    const restoreMs = this.restoreLimitMs;
    let first = true;
    while (!this.stopping) {
      let consumer: Consumer;
      try {
        consumer = await js.consumers.get(stream, durable);
        if (restoreMs) {
          const info = await consumer.info(false);
          this.consumer = consumer;
          // Deliveries from here on are checked for gaps against what the server has handed out.
          this.lastDelivery = info.delivered.consumer_seq;
          // Unacknowledged messages not in our hands: a previous owner's, or deliveries to an
          // earlier consume loop of ours that never arrived. They must come back first.
          const foreign = info.num_ack_pending - this.heldAt(info.delivered.consumer_seq);
          if (foreign > 0) this.beginRestore(first ? 'attach' : 're-attach', info.num_ack_pending);
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

  /** Starts holding messages until every unacknowledged one is in our hands (no-op if already). */
  private beginRestore(cause: 'attach' | 're-attach' | 'delivery gap', unacknowledged: number): void {
    const consumer = this.consumer;
    const limitMs = this.restoreLimitMs;
    if (this.restoring || !consumer || !limitMs || this.stopping) return;
    if (cause !== 'attach') this.restores++;
    this.restoring = new Map();
    void this.restoreOrder(consumer, cause, unacknowledged, limitMs);
  }

  /**
   * Holds messages until every unacknowledged message of the consumer is in our hands (the
   * previous owner's come back as redeliveries), then hands them all over in stream order.
   */
  private async restoreOrder(consumer: Consumer, cause: string, unacknowledged: number, limitMs: number): Promise<void> {
    const { logger, durable } = this.options;
    const deadline = Date.now() + limitMs;
    const log = cause === 'attach' ? logger.info.bind(logger) : logger.warn.bind(logger);
    log({ durable, cause, unacknowledged }, 'holding messages until every unacknowledged one is back, to keep stream order');
    while (!this.stopping && this.restoring) {
      try {
        const info = await consumer.info(false);
        if (info.num_ack_pending <= this.heldAt(info.delivered.consumer_seq)) break;
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
    if (this.lastDelivery !== undefined) {
      // Every delivery of this consumer has the next sequence: one skipped (or a sequence that
      // goes back, after a consumer leader change) means a delivery we never saw is
      // unacknowledged somewhere and will come back after ack_wait, behind what follows it.
      const delivery = msg.info.deliverySequence;
      if (delivery !== this.lastDelivery + 1) this.beginRestore('delivery gap', delivery - this.lastDelivery - 1);
      this.lastDelivery = delivery;
    }
    if (this.restoring) {
      // A redelivery of a message whose handler still runs is that handler's, not held twice.
      if (!this.inFlight.has(msg.seq)) this.restoring.set(msg.seq, msg);
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

/** True once the handler acked, naked or terminated the message (nats.js marks it `didAck`). */
function answered(msg: JsMsg): boolean {
  return (msg as JsMsg & { didAck?: unknown }).didAck === true;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
