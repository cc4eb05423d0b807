import { and, eq, isNull } from 'drizzle-orm';
import type { ConfigContext } from '../context.js';
import { projects, syncs } from '../db/schema.js';
import { enqueueSnapshots } from '../outbox/enqueue.js';
import { recordSyncChange } from '../syncs/record-change.js';
import { lockLiveProject } from './find.js';
import { projectSnapshot } from './snapshot.js';

/**
 * Marks the project deleted (its key stops working) and disables every enabled sync of it,
 * each with its own history event, all in one transaction.
 */
export async function deleteProject(ctx: ConfigContext, input: { projectId: string }): Promise<void> {
  const now = new Date();
  await ctx.db.transaction(async (tx) => {
    const current = await lockLiveProject(tx, input.projectId, 'update');
    const [deleted] = await tx
      .update(projects)
      .set({ deletedAt: now, updatedAt: now, version: current.version + 1 })
      .where(eq(projects.id, current.id))
      .returning();
    await enqueueSnapshots(tx, [projectSnapshot(deleted!)]);

    const enabledSyncs = await tx
      .select()
      .from(syncs)
      .where(and(eq(syncs.projectId, current.id), isNull(syncs.deletedAt), eq(syncs.enabled, true)))
      .orderBy(syncs.createdAt, syncs.id)
      .for('update');
    for (const sync of enabledSyncs) {
      const [disabled] = await tx
        .update(syncs)
        .set({ enabled: false, version: sync.version + 1, updatedAt: now })
        .where(eq(syncs.id, sync.id))
        .returning();
      await recordSyncChange(tx, disabled!, {
        type: 'disabled',
        changes: { enabled: { from: true, to: false } },
        actor: ctx.actor,
        at: now,
      });
    }
  });
  ctx.changed();
}
