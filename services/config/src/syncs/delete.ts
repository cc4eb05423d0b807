import { eq } from 'drizzle-orm';
import type { ConfigContext } from '../context.js';
import { syncs } from '../db/schema.js';
import { ConflictError } from '../errors.js';
import { lockLiveSync } from './find.js';
import { recordSyncChange } from './record-change.js';

/** Marks the sync deleted: delivery stops, its history stays readable. */
export async function deleteSync(
  ctx: ConfigContext,
  input: { syncId: string; expectedVersion?: number | undefined },
): Promise<void> {
  const now = new Date();
  await ctx.db.transaction(async (tx) => {
    const current = await lockLiveSync(tx, input.syncId);
    if (input.expectedVersion !== undefined && input.expectedVersion !== current.version) {
      throw new ConflictError(`sync ${current.id} is at version ${current.version}, not ${input.expectedVersion}`);
    }
    const [deleted] = await tx
      .update(syncs)
      .set({ deletedAt: now, updatedAt: now, version: current.version + 1 })
      .where(eq(syncs.id, current.id))
      .returning();
    await recordSyncChange(tx, deleted!, { type: 'deleted', changes: {}, actor: ctx.actor, at: now });
  });
  ctx.changed();
}
