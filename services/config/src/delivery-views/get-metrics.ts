import { and, count, eq, gte, lt, sql, type AnyColumn } from 'drizzle-orm';
import type { ConfigContext } from '../context.js';
import { deliveryLatency, deliveryMinutes, deliveryPendingRetries } from '../db/schema.js';
import { findSync } from '../syncs/find.js';
import { deliveryMetrics, type DeliveryMetrics } from './delivery-metrics.js';
import { metricsWindow, type MetricsQuery } from './metrics-window.js';

const total = (column: AnyColumn) =>
  sql<number>`coalesce(sum(${column}), 0)::bigint`.mapWith(Number);

/** A sync's delivery metrics over a period up to now or a custom range (deleted syncs too). */
export async function getSyncMetrics(
  ctx: ConfigContext,
  input: { syncId: string } & MetricsQuery,
  now = Date.now(),
): Promise<DeliveryMetrics> {
  const window = metricsWindow(input, now);
  await findSync(ctx.db, input.syncId);
  const m = deliveryMinutes;
  const inWindow = and(eq(m.syncId, input.syncId), gte(m.minute, window.start), lt(m.minute, window.end));
  const [sums] = await ctx.db
    .select({
      delivered: total(m.delivered),
      deliveredFirstAttempt: total(m.deliveredFirstAttempt),
      deliveredAfterRetry: total(m.deliveredAfterRetry),
      expired: total(m.expired),
      discarded: total(m.discarded),
      rejected: total(m.rejected),
      dropped: total(m.dropped),
      latencyMaxMs: sql<number>`coalesce(max(${m.latencyMaxMs}), 0)::bigint`.mapWith(Number),
    })
    .from(m)
    .where(inWindow);

  const l = deliveryLatency;
  const buckets = await ctx.db
    .select({ bucket: l.bucket, count: sql<number>`sum(${l.count})::bigint`.mapWith(Number) })
    .from(l)
    .where(and(eq(l.syncId, input.syncId), gte(l.minute, window.start), lt(l.minute, window.end)))
    .groupBy(l.bucket);

  const [pending] = await ctx.db
    .select({ n: count() })
    .from(deliveryPendingRetries)
    .where(eq(deliveryPendingRetries.syncId, input.syncId));

  return deliveryMetrics(window, sums!, new Map(buckets.map((b) => [b.bucket, b.count])), pending?.n ?? 0);
}
