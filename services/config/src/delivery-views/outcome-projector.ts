import { ConsumerRunner, declareConsumer, isNotFound, type Bus, type JsMsg, type Topology } from '@inkstream/bus';
import type { OutcomeMessage } from '@inkstream/contracts';
import type { Logger } from '@inkstream/service-kit';
import type { Database } from '../db/database.js';
import { loggableError } from '../db/errors.js';
import { applyOutcomes, lockCheckpoint, saveCheckpoint } from './apply-batch.js';
import type { ProjectionMetrics } from './metrics.js';
import { readOutcomeMessage } from './outcome-message.js';

export interface OutcomeProjectorOptions {
  db: Database;
  bus: Pick<Bus, 'js' | 'jsm'>;
  topology: Topology;
  logger: Logger;
  metrics?: ProjectionMetrics;
  /** Outcome messages (v1 outcomes or v2 aggregates) per transaction at most. Default 1,000. */
  batchSize?: number;
  /**
   * How long outcomes are gathered before they are written unless a whole batch is there, busy
   * or quiet: a transaction is written when batchSize messages wait, or this long after the
   * first message that arrived while nothing was being written (under load: after the previous
   * transaction ended). Default 250 ms.
   */
  lingerMs?: number;
  /**
   * How long a gap in the sequence lasts before the stream is asked whether the missing
   * outcomes can still arrive (and how often it is asked again). Default 1 s.
   */
  gapCheckMs?: number;
}

interface Waiting {
  msg: JsMsg;
  /** Undefined for a message that cannot be used: it only moves the checkpoint on. */
  outcome: OutcomeMessage | undefined;
  /** Ends the message's handler, so the consumer runner lets go of it. */
  done: () => void;
}

/**
 * Projects the outcome stream into Postgres (metrics, error samples, pending retries, sync
 * status), exactly once: every batch is one transaction that also records the last stream
 * sequence applied, and only ever extends it without a gap. Outcomes arriving ahead of a
 * missing one (held by another replica, or coming back after an ack timeout) wait — with
 * heartbeats, unacknowledged — until it has been applied; a message the stream no longer has
 * is skipped. A message is acknowledged only after the transaction that applied it committed,
 * so a crash repeats work, which the checkpoint then recognises, and never loses it.
 */
export class OutcomeProjector {
  private runner: ConsumerRunner | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private loop: Promise<void> | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private stopping = false;
  private failures = 0;
  /** Newest status time applied per sync (statuses are written only when they change). */
  private readonly statusSeen = new Map<string, number>();
  private readonly batchSize: number;
  private readonly stream: string;
  /** The durable consumer's name, which also keys the checkpoint. */
  readonly consumer: string;

  constructor(private readonly options: OutcomeProjectorOptions) {
    this.batchSize = options.batchSize ?? 1_000;
    this.stream = options.topology.streams.outcomes.name;
    this.consumer = options.topology.consumers.outcomes().durable_name;
  }

  /** Declares the durable consumer and starts projecting. */
  async start(): Promise<void> {
    const { bus, topology, logger } = this.options;
    await declareConsumer(bus.jsm, this.stream, topology.consumers.outcomes());
    this.runner = new ConsumerRunner({
      js: bus.js,
      stream: this.stream,
      durable: this.consumer,
      maxMessages: Math.min(4_000, this.batchSize * 2),
      logger,
      onMessage: (msg) => this.receive(msg),
    });
    this.runner.start();
  }

  /** Stops pulling, writes what it holds (one try), hands back what it could not. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    this.runLoop();
    await this.runner?.stop();
    await this.loop;
  }

  private receive(msg: JsMsg): Promise<void> {
    const read = readOutcomeMessage(msg.data);
    let outcome: OutcomeMessage | undefined;
    if (!read.ok) {
      this.options.logger.warn({ seq: msg.seq, subject: msg.subject, problem: read.problem }, 'unusable delivery outcome skipped');
      this.options.metrics?.outcomes.inc({ result: 'unusable' });
    } else if ('outcome' in read) {
      outcome = read.outcome;
    } else {
      outcome = read.aggregate;
      if (read.problems) {
        this.options.logger.warn({ seq: msg.seq, subject: msg.subject, problems: read.problems.slice(0, 5) }, 'unusable parts of a delivery outcome aggregate skipped');
        this.options.metrics?.outcomes.inc({ result: 'unusable' }, read.problems.length);
      }
    }
    return new Promise<void>((done) => {
      // A redelivery of an outcome already waiting here: the newer delivery is the one to answer.
      this.waiting.get(msg.seq)?.done();
      this.waiting.set(msg.seq, { msg, outcome, done });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.loop) return;
    if (this.waiting.size >= this.batchSize || this.stopping) {
      this.runLoop();
      return;
    }
    this.lingerTimer ??= setTimeout(() => {
      this.lingerTimer = undefined;
      this.runLoop();
    }, this.options.lingerMs ?? 250);
  }

  private runLoop(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    if (this.loop || this.waiting.size === 0) return;
    this.loop = this.drain().finally(() => {
      this.loop = undefined;
      if (this.waiting.size > 0) this.schedule();
    });
  }

  /** Writes batches until nothing waits (or, when stopping, until a batch cannot be written). */
  private async drain(): Promise<void> {
    const { logger, metrics } = this.options;
    const gapCheckMs = this.options.gapCheckMs ?? 1_000;
    let stalledSince: number | undefined;
    let lastGapCheck = 0;
    let stalls = 0;
    while (this.waiting.size > 0) {
      let progressed: boolean;
      try {
        progressed = await this.writeBatch();
        if (this.failures > 0) logger.info('delivery outcomes are being projected again');
        this.failures = 0;
      } catch (err) {
        this.failures++;
        metrics?.failures.inc();
        // One warning when it starts failing, not one per retry while Postgres is away.
        const log = this.failures === 1 ? logger.warn : logger.debug;
        log.call(logger, { err: loggableError(err), waiting: this.waiting.size }, 'cannot project delivery outcomes yet; retrying');
        if (this.stopping) return this.release();
        await this.pause(Math.min(1_000 * 2 ** (this.failures - 1), 30_000));
        continue;
      }
      if (progressed) {
        stalledSince = undefined;
        stalls = 0;
        // Under load too, a part batch waits for the linger (schedule(), when this loop ends)
        // instead of being written at once: few, large transactions.
        if (this.waiting.size < this.batchSize && !this.stopping) return;
        continue;
      }
      // A gap: the next outcome is most likely with another replica, which commits it in a
      // moment (the checkpoint row lock makes the next try wait for that commit). Look at the
      // stream for outcomes that can no longer arrive only now and then.
      const now = Date.now();
      stalledSince ??= now;
      if (now - stalledSince >= gapCheckMs && now - lastGapCheck >= gapCheckMs) {
        lastGapCheck = now;
        if (await this.skipUnreachable()) continue;
      }
      if (this.stopping) return this.release();
      await this.pause(Math.min(10 * 2 ** stalls++, gapCheckMs));
    }
  }

  /**
   * One transaction: takes the outcomes that continue the checkpoint without a gap, applies
   * them and moves the checkpoint; outcomes at or below it were applied before and are only
   * acknowledged. Returns whether any message could be answered.
   */
  private async writeBatch(): Promise<boolean> {
    const seqs = [...this.waiting.keys()].sort((a, b) => a - b);
    const { applied, duplicates } = await this.options.db.transaction(async (tx) => {
      const last = await lockCheckpoint(tx, this.consumer);
      const duplicates = seqs.filter((seq) => seq <= last);
      const applied: number[] = [];
      for (const seq of seqs) {
        if (seq <= last) continue;
        if (seq !== last + 1 + applied.length || applied.length >= this.batchSize) break;
        applied.push(seq);
      }
      if (applied.length > 0) {
        const messages = applied.map((seq) => this.waiting.get(seq)?.outcome).filter((o): o is OutcomeMessage => o !== undefined);
        await applyOutcomes(tx, messages, { statusSeen: this.statusSeen });
        await saveCheckpoint(tx, this.consumer, applied[applied.length - 1]!);
      }
      return { applied, duplicates };
    });
    for (const seq of [...duplicates, ...applied]) {
      const waiting = this.waiting.get(seq);
      if (!waiting) continue;
      this.waiting.delete(seq);
      waiting.msg.ack();
      waiting.done();
    }
    this.options.metrics?.outcomes.inc({ result: 'applied' }, applied.length);
    this.options.metrics?.outcomes.inc({ result: 'duplicate' }, duplicates.length);
    return applied.length + duplicates.length > 0;
  }

  /**
   * The next outcome after the checkpoint is not here. If the stream no longer has it (aged
   * out, deleted) or it was acknowledged already (this database was replaced), it can never
   * arrive: move the checkpoint past it. Otherwise another replica holds it or it comes back
   * after its ack timeout, and waiting is right.
   */
  private async skipUnreachable(): Promise<boolean> {
    const lowestWaiting = Math.min(...this.waiting.keys());
    const { jsm } = this.options.bus;
    try {
      const [stream, consumer] = await Promise.all([jsm.streams.info(this.stream), jsm.consumers.info(this.stream, this.consumer)]);
      return await this.options.db.transaction(async (tx) => {
        const last = await lockCheckpoint(tx, this.consumer);
        let target = Math.min(Math.max(last, stream.state.first_seq - 1, consumer.ack_floor.stream_seq), lowestWaiting - 1);
        // Deleted from the middle of the stream: looked at one by one, a few per pass.
        for (let probes = 0; probes < 100 && target < lowestWaiting - 1 && !(await this.streamHas(target + 1)); probes++) target++;
        if (target <= last) return false;
        await saveCheckpoint(tx, this.consumer, target);
        this.options.logger.warn({ from: last + 1, to: target, skipped: target - last }, 'delivery outcomes that can no longer arrive skipped');
        this.options.metrics?.outcomes.inc({ result: 'skipped' }, target - last);
        return true;
      });
    } catch (err) {
      this.options.logger.debug({ err: loggableError(err) }, 'cannot look at the outcome stream yet');
      return false;
    }
  }

  private async streamHas(seq: number): Promise<boolean> {
    try {
      return (await this.options.bus.jsm.streams.getMessage(this.stream, { seq })) !== null;
    } catch (err) {
      if (isNotFound(err) || /no message found/i.test(String(err))) return false;
      throw err;
    }
  }

  /** Shutting down: what could not be written goes back to the stream for whoever comes next. */
  private release(): void {
    for (const waiting of this.waiting.values()) {
      waiting.msg.nak(1_000);
      waiting.done();
    }
    this.waiting.clear();
  }

  /** Waits, unless stop() is called meanwhile. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.wake = finish;
    });
  }
}
