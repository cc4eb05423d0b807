import { asc, inArray } from 'drizzle-orm';
import type { ConfigSnapshot } from '@inkstream/contracts';
import type { Logger } from '@inkstream/service-kit';
import type { Database } from '../db/database.js';
import { outbox } from '../db/schema.js';
import type { OutboxMetrics } from './metrics.js';
import type { SnapshotPublisher } from './publisher.js';

export interface OutboxRelayOptions {
  db: Database;
  publisher: SnapshotPublisher;
  logger: Logger;
  metrics?: OutboxMetrics;
  /** How often to look for rows nobody nudged us about (another replica, a crash). Default 1 s. */
  intervalMs?: number;
  /** Rows per transaction. Default 100. */
  batchSize?: number;
}

export interface RelayResult {
  published: number;
  stale: number;
}

interface PassResult extends RelayResult {
  taken: number;
  error?: unknown;
}

/**
 * Publishes outbox rows to the config bucket in id order and deletes each once it is stored.
 * Rows are taken with FOR UPDATE SKIP LOCKED, so config replicas share the work instead of
 * waiting on each other; a row that cannot be published stays, with the rows after it, until
 * the next pass.
 */
export class OutboxRelay {
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private failing = false;

  constructor(private readonly options: OutboxRelayOptions) {
    this.intervalMs = options.intervalMs ?? 1_000;
    this.batchSize = options.batchSize ?? 100;
  }

  /** Publishes what is waiting now, then keeps looking every interval. */
  start(): void {
    if (this.stopped || this.timer) return;
    this.timer = setInterval(() => this.nudge(), this.intervalMs);
    this.timer.unref();
    this.nudge();
  }

  /** Asks for a pass soon; calls made while a pass runs fold into one more pass. */
  nudge(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.runPasses().finally(() => {
      this.running = undefined;
    });
  }

  /** Waits for the pass in progress, if any. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops the timer and lets the current pass finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.idle();
  }

  /**
   * Publishes until the outbox is empty (for this replica) or a publish fails, which is thrown
   * after the rows published before it have been removed.
   */
  async drain(): Promise<RelayResult> {
    const total: RelayResult = { published: 0, stale: 0 };
    for (;;) {
      const pass = await this.pass();
      total.published += pass.published;
      total.stale += pass.stale;
      if (pass.error !== undefined) throw pass.error;
      if (pass.taken < this.batchSize) return total;
    }
  }

  private async runPasses(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.drain();
        if (this.failing) this.options.logger.info('config snapshots are being published again');
        this.failing = false;
      } catch (err) {
        this.options.metrics?.failures.inc();
        // One warning when publishing starts failing, not one per second while NATS is away.
        const log = this.failing ? this.options.logger.debug : this.options.logger.warn;
        log.call(this.options.logger, { err: { message: (err as Error)?.message ?? String(err) } }, 'cannot publish config snapshots yet; they stay in the outbox');
        this.failing = true;
        return;
      }
    } while (this.again && !this.stopped);
  }

  private async pass(): Promise<PassResult> {
    const { db, publisher, metrics } = this.options;
    return db.transaction(async (tx) => {
      const rows = await tx
        .select({ id: outbox.id, key: outbox.key, payload: outbox.payload })
        .from(outbox)
        .orderBy(asc(outbox.id))
        .limit(this.batchSize)
        .for('update', { skipLocked: true });
      const result: PassResult = { taken: rows.length, published: 0, stale: 0 };
      const done: number[] = [];
      for (const row of rows) {
        try {
          const outcome = await publisher.publish(row.key, row.payload as ConfigSnapshot);
          result[outcome] += 1;
          metrics?.relayed.inc({ result: outcome });
          done.push(row.id);
        } catch (err) {
          result.error = err;
          break;
        }
      }
      if (done.length > 0) await tx.delete(outbox).where(inArray(outbox.id, done));
      return result;
    });
  }
}
