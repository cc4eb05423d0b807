import { lt, sql } from 'drizzle-orm';
import { DeliverySettingsSchema } from '@inkstream/contracts';
import type { Logger } from '@inkstream/service-kit';
import type { Database } from '../db/database.js';
import { loggableError } from '../db/errors.js';
import { deliveryLatency, deliveryMinutes, deliveryPendingRetries, syncs } from '../db/schema.js';
import { settleRetryingSyncs } from './apply-batch.js';

/** Per-minute counters are kept this long (Amplitude keeps its delivery metrics 90 days). */
export const DELIVERY_VIEW_RETENTION_DAYS = 90;

const DAY_MS = 24 * 3600 * 1000;
const LONGEST_RETRY_WINDOW_S = DeliverySettingsSchema.properties.retryWindowSeconds.maximum!;
/** Time for a payload's final outcome to arrive after its retry window ended. */
const SETTLE_MARGIN_S = 3600;

export interface PruneResult {
  minutes: number;
  latency: number;
  pendingRetries: number;
}

/**
 * Drops minute rows older than the retention, and pending retries that outlived their sync's
 * retry window by an hour: their final outcome was lost (outcomes are published best-effort),
 * and delivery has dead-lettered them long ago.
 */
export async function pruneDeliveryViews(db: Database, now = new Date()): Promise<PruneResult> {
  const cutoff = new Date(now.getTime() - DELIVERY_VIEW_RETENTION_DAYS * DAY_MS);
  const minutes = await db.delete(deliveryMinutes).where(lt(deliveryMinutes.minute, cutoff)).returning({ minute: deliveryMinutes.minute });
  const latency = await db.delete(deliveryLatency).where(lt(deliveryLatency.minute, cutoff)).returning({ minute: deliveryLatency.minute });
  const p = deliveryPendingRetries;
  const retryWindowS = sql`coalesce((select (${syncs.delivery} ->> 'retryWindowSeconds')::int from ${syncs} where ${syncs.id} = ${p.syncId}), ${LONGEST_RETRY_WINDOW_S})`;
  const stale = await db
    .delete(p)
    .where(sql`${p.firstFailedAt} < ${now.toISOString()}::timestamptz - make_interval(secs => ${retryWindowS} + ${SETTLE_MARGIN_S})`)
    .returning({ messageId: p.messageId });
  if (stale.length > 0) await settleRetryingSyncs(db);
  return { minutes: minutes.length, latency: latency.length, pendingRetries: stale.length };
}

/** Runs pruneDeliveryViews at start-up and then every hour. */
export class DeliveryViewsPruner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: { db: Database; logger: Logger; everyMs?: number }) {}

  start(): void {
    this.run();
    this.timer = setInterval(() => this.run(), this.options.everyMs ?? 3600 * 1000);
    this.timer.unref();
  }

  private run(): void {
    if (this.running) return;
    this.running = pruneDeliveryViews(this.options.db)
      .then((pruned) => {
        if (pruned.minutes + pruned.latency + pruned.pendingRetries > 0) this.options.logger.info(pruned, 'old delivery metrics pruned');
      })
      .catch((err: unknown) => this.options.logger.warn({ err: loggableError(err) }, 'cannot prune delivery metrics now; next hour'))
      .finally(() => {
        this.running = undefined;
      });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
