import { and, asc, eq, isNull } from 'drizzle-orm';
import type { ConfigContext } from '../context.js';
import { syncs } from '../db/schema.js';
import { findLiveProject } from '../projects/find.js';
import { toSync, type Sync } from './resource.js';

/** The syncs of a live project that have not been deleted, oldest first. */
export async function listSyncs(ctx: ConfigContext, input: { projectId: string }): Promise<Sync[]> {
  await findLiveProject(ctx.db, input.projectId);
  const rows = await ctx.db
    .select()
    .from(syncs)
    .where(and(eq(syncs.projectId, input.projectId), isNull(syncs.deletedAt)))
    .orderBy(asc(syncs.createdAt), asc(syncs.id));
  return rows.map(toSync);
}
