import type { KV } from '@inkstream/bus';
import type { Database } from '../db/database.js';
import { projects, syncs } from '../db/schema.js';
import { projectSnapshot } from '../projects/snapshot.js';
import { syncSnapshot } from '../syncs/snapshot.js';
import { enqueueSnapshots } from './enqueue.js';

/**
 * When the config bucket is empty but the database is not (NATS data lost, a new NATS
 * cluster), queues the current snapshot of every project and sync, deleted ones included, so
 * the other services can rebuild their view. Returns how many snapshots were queued.
 */
export async function reseedIfBucketEmpty(db: Database, kv: KV): Promise<number> {
  const status = await kv.status();
  if (status.values > 0) return 0;
  return db.transaction(async (tx) => {
    const projectRows = await tx.select().from(projects).orderBy(projects.createdAt, projects.id);
    const syncRows = await tx.select().from(syncs).orderBy(syncs.createdAt, syncs.id);
    await enqueueSnapshots(tx, [...projectRows.map(projectSnapshot), ...syncRows.map(syncSnapshot)]);
    return projectRows.length + syncRows.length;
  });
}
