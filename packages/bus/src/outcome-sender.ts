import { randomBytes } from 'node:crypto';
import { OutcomeAggregator, type DeliveryOutcome, type OutcomeAggregate, type OutcomeAggregatorOptions } from '@inkstream/contracts';
import { encodeJson } from './codec.js';
import type { Bus, BusLogger } from './connection.js';
import { LeanPublisher } from './lean-publisher.js';

export interface OutcomeSenderOptions extends OutcomeAggregatorOptions {
  /** The publisher to send with (shared with dead letters in delivery); default one of its own. */
  publisher?: LeanPublisher;
  /** How often the aggregates are sent. Default 1,000 ms. */
  flushEveryMs?: number;
  /**
   * How long a message that could not be sent is tried again (with the same message id, so a
   * message stored after all is not counted twice): within the stream's duplicate window (2 min).
   * Default 60 s.
   */
  retryForMs?: number;
  /** Messages kept for another try at most (oldest dropped first). Default 1,000. */
  maxUnsent?: number;
}

/** Where outcomes go: `Topology` has it. */
export interface OutcomeSubjects {
  subjects: { outcome(syncId: string): string };
}

interface Unsent {
  subject: string;
  data: Uint8Array;
  msgID: string;
  firstTriedAt: number;
}

/**
 * Sends delivery outcomes as per-sync aggregates (v2, see OutcomeAggregate): outcome() only
 * folds an outcome in memory; about every second (or at once when a sync's records grow large)
 * every sync with outcomes gets one message, published with the lean publisher. stop() sends
 * what is left; a crash (SIGKILL) loses at most the last second, which only the metrics miss
 * (README, "Delivery metrics").
 */
export class OutcomeSender {
  private readonly aggregator: OutcomeAggregator;
  /** Created at the first send when not given (never in outcome(), which must not throw). */
  private publisher: LeanPublisher | undefined;
  private readonly ownsPublisher: boolean;
  private readonly timer: NodeJS.Timeout;
  private readonly id = randomBytes(6).toString('hex');
  private seq = 0;
  private unsent: Unsent[] = [];
  private sending: Promise<void> = Promise.resolve();
  private stopped = false;
  private failing = false;
  private readonly retryForMs: number;
  private readonly maxUnsent: number;

  constructor(
    private readonly bus: Pick<Bus, 'nc'>,
    private readonly topology: OutcomeSubjects,
    private readonly logger: BusLogger,
    options: OutcomeSenderOptions = {},
  ) {
    this.aggregator = new OutcomeAggregator(options);
    this.ownsPublisher = !options.publisher;
    this.publisher = options.publisher;
    this.retryForMs = options.retryForMs ?? 60_000;
    this.maxUnsent = options.maxUnsent ?? 1_000;
    this.timer = setInterval(() => void this.flush(), options.flushEveryMs ?? 1_000);
    this.timer.unref();
  }

  /** Outcomes feed metrics; this never blocks, throws or holds up a delivery. */
  outcome(outcome: DeliveryOutcome): void {
    if (this.stopped) {
      this.logger.warn({ sync: outcome.syncId, result: outcome.result }, 'outcome after the outcome sender stopped: not sent');
      return;
    }
    if (this.aggregator.add(outcome)) void this.flush(outcome.syncId);
  }

  /** Sends what has been gathered (of every sync, or of one) and what failed before; resolves when answered. */
  flush(syncId?: string): Promise<void> {
    const messages = this.aggregator.take(syncId);
    const now = Date.now();
    for (const message of messages) {
      this.unsent.push({ subject: this.topology.subjects.outcome(message.syncId), data: encodeJson(message), msgID: `${this.id}.${this.seq++}`, firstTriedAt: now });
    }
    if (this.unsent.length > this.maxUnsent) {
      const dropped = this.unsent.splice(0, this.unsent.length - this.maxUnsent);
      this.logger.warn({ dropped: dropped.length }, 'delivery outcome aggregates not sent: too many waiting');
    }
    const batch = this.unsent;
    this.unsent = [];
    if (batch.length === 0) return this.sending;
    const send = Promise.all(batch.map((m) => this.send(m)));
    const sending = this.sending.then(() => send).then(() => undefined);
    this.sending = sending;
    return sending;
  }

  /** Sends what is left and stops; outcomes after this are not sent. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    // One more go for what failed just now (a reconnect in progress) or came in meanwhile.
    if (this.unsent.length > 0 || this.aggregator.size > 0) await this.flush();
    this.stopped = true;
    const left = this.unsent.length + this.aggregator.size;
    if (left > 0) this.logger.warn({ messages: left }, 'delivery outcome aggregates not sent at shutdown');
    if (this.ownsPublisher) this.publisher?.close();
  }

  private async send(m: Unsent): Promise<void> {
    try {
      this.publisher ??= new LeanPublisher(this.bus.nc);
      await this.publisher.publish(m.subject, m.data, { msgID: m.msgID });
      if (this.failing) this.logger.info({}, 'delivery outcome aggregates are sent again');
      this.failing = false;
    } catch (err) {
      if (Date.now() - m.firstTriedAt < this.retryForMs) {
        this.unsent.push(m);
        // One warning when sending starts failing, not one per message and second.
        if (!this.failing) this.logger.warn({ subject: m.subject, err: String(err) }, 'delivery outcome aggregate not sent yet; trying again');
        this.failing = true;
      } else {
        this.logger.error({ subject: m.subject, err: String(err) }, 'delivery outcome aggregate not sent: given up');
      }
    }
  }
}

export type { OutcomeAggregate };

const shared = new WeakMap<object, OutcomeSender>();

/** One OutcomeSender per connection, for code that has only the bus at hand (the filter's discards). */
export function sharedOutcomeSender(bus: Pick<Bus, 'nc'>, topology: OutcomeSubjects, logger: BusLogger): OutcomeSender {
  let sender = shared.get(bus.nc);
  if (!sender) {
    sender = new OutcomeSender(bus, topology, logger);
    shared.set(bus.nc, sender);
  }
  return sender;
}

/** Sends what the shared sender of this connection holds and stops it (service shutdown). */
export async function stopSharedOutcomeSender(bus: Pick<Bus, 'nc'>): Promise<void> {
  const sender = shared.get(bus.nc);
  shared.delete(bus.nc);
  await sender?.stop();
}
