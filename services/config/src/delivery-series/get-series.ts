import { and, eq, gte, lt, sql } from 'drizzle-orm';
import type { ConfigContext } from '../context.js';
import { deliveryMinutes } from '../db/schema.js';
import { metricsWindow, type MetricsQuery } from '../delivery-views/metrics-window.js';
import { findSync } from '../syncs/find.js';
import { deliverySeries, type DeliverySeries } from './series-buckets.js';

/** A sync's deliveries and failures over a period, in even buckets (deleted syncs too). */
export async function getDeliverySeries(
  ctx: ConfigContext,
  input: { syncId: string } & MetricsQuery,
  now = Date.now(),
): Promise<DeliverySeries> {
  const window = metricsWindow(input, now);
  await findSync(ctx.db, input.syncId);
  const m = deliveryMinutes;
  const rows = await ctx.db
    .select({
      minute: m.minute,
      delivered: m.delivered,
      notDelivered: sql<number>`(${m.expired} + ${m.rejected} + ${m.dropped} + ${m.discarded})`.mapWith(Number),
      failedAttempts: sql<number>`(${m.attempts3xx} + ${m.attempts4xx} + ${m.attempts429} + ${m.attempts5xx} + ${m.attemptsError})`.mapWith(Number),
    })
    .from(m)
    .where(and(eq(m.syncId, input.syncId), gte(m.minute, window.start), lt(m.minute, window.end)));
  return deliverySeries(window, rows);
}
