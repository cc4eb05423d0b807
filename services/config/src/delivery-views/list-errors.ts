import { desc, eq } from 'drizzle-orm';
import type { ConfigContext } from '../context.js';
import { deliveryErrors, type DeliveryErrorRow } from '../db/schema.js';
import { findSync } from '../syncs/find.js';
import type { DeliveryError } from './resource.js';

/** A sync's most recent failed attempts, newest first (the newest 1,000 are kept). */
export async function listSyncErrors(ctx: ConfigContext, input: { syncId: string; limit: number }): Promise<DeliveryError[]> {
  await findSync(ctx.db, input.syncId);
  const rows = await ctx.db
    .select()
    .from(deliveryErrors)
    .where(eq(deliveryErrors.syncId, input.syncId))
    .orderBy(desc(deliveryErrors.at), desc(deliveryErrors.id))
    .limit(input.limit);
  return rows.map(toDeliveryError);
}

function toDeliveryError(row: DeliveryErrorRow): DeliveryError {
  return {
    at: row.at.toISOString(),
    result: row.result as DeliveryError['result'],
    status: row.status,
    error: row.error,
    responseBody: row.responseBody,
    requestId: row.requestId,
    attempt: row.attempt,
    payloadType: row.payloadType as DeliveryError['payloadType'],
    messageId: row.messageId,
    traceId: row.traceId,
  };
}
