import { asc, eq } from 'drizzle-orm';
import type { ConfigContext } from '../context.js';
import { syncHistory, syncs } from '../db/schema.js';
import { NotFoundError } from '../errors.js';
import { toSyncHistoryEvent, type SyncHistoryEvent } from './history-event.js';

/** Every change of a sync, oldest first; readable after the sync was deleted. */
export async function getSyncHistory(ctx: ConfigContext, input: { syncId: string }): Promise<SyncHistoryEvent[]> {
  const [sync] = await ctx.db.select({ id: syncs.id }).from(syncs).where(eq(syncs.id, input.syncId));
  if (!sync) throw new NotFoundError('sync', input.syncId);
  const rows = await ctx.db
    .select()
    .from(syncHistory)
    .where(eq(syncHistory.syncId, input.syncId))
    .orderBy(asc(syncHistory.version));
  return rows.map(toSyncHistoryEvent);
}
