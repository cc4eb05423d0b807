import { and, eq } from 'drizzle-orm';
import { encodeJson, type KV } from '@inkstream/bus';
import type { ConfigSnapshot } from '@inkstream/contracts';
import type { Database, Transaction } from '../db/database.js';
import { projects, syncs } from '../db/schema.js';
import { projectSnapshot } from '../projects/snapshot.js';
import { recordSyncChange } from '../syncs/record-change.js';
import { syncSnapshot } from '../syncs/snapshot.js';
import { enqueueSnapshots, snapshotKey } from './enqueue.js';
import { isWrongLastSequence } from './kv-publisher.js';
import { planReconciliation, type BucketEntry, type DatabaseSnapshot, type ReconcileAction } from './reconcile-plan.js';

/** Who the sync history names when a restored sync is given a version above the bucket's. */
export const RECONCILE_ACTOR = 'system (config bucket reconciliation)';

const READ_CONCURRENCY = 32;

export interface ReconcileResult {
  /** Snapshots queued in the outbox because the bucket lacked them or held an older version. */
  published: number;
  /** Rows given a version above the bucket's (a restored database) and queued. */
  superseded: number;
  /** Keys the database does not have, told deleted and purged from the bucket. */
  removed: number;
  /** Keys written by someone else while this ran, left for the next reconciliation. */
  skipped: number;
}

/**
 * Makes the config bucket equal to the database (planReconciliation says how). Runs at start,
 * before the outbox relay, and on demand (`POST /v1/config-bucket/reconcile`). Snapshots to
 * publish go through the outbox, like every change; keys to remove are written directly, each
 * conditional on the revision read, so a key written meanwhile is left alone.
 *
 * The bucket is read before the database: a snapshot reaches the bucket only after its change
 * committed, so every key read from the bucket that the database then lacks is truly absent from
 * it, even while other config replicas keep working.
 */
export async function reconcileConfigBucket(db: Database, kv: KV, now = new Date()): Promise<ReconcileResult> {
  const bucket = await readBucket(kv);
  const database = await readDatabase(db);
  const plan = planReconciliation(database, bucket);
  const result: ReconcileResult = { published: 0, superseded: 0, removed: 0, skipped: 0 };

  const toQueue = plan.filter((a) => a.kind !== 'remove');
  if (toQueue.length > 0) {
    await db.transaction(async (tx) => {
      const queued: ConfigSnapshot[] = [];
      for (const action of toQueue) {
        if (action.kind === 'publish') {
          queued.push(action.snapshot);
          result.published += 1;
        } else if (action.kind === 'supersede') {
          if (await supersede(tx, action, now)) result.superseded += 1;
          else result.skipped += 1;
        }
      }
      await enqueueSnapshots(tx, queued);
    });
  }
  for (const action of plan) {
    if (action.kind !== 'remove') continue;
    if (await remove(kv, action)) result.removed += 1;
    else result.skipped += 1;
  }
  return result;
}

async function readBucket(kv: KV): Promise<BucketEntry[]> {
  const keys: string[] = [];
  for await (const key of await kv.keys()) keys.push(key);
  const entries: BucketEntry[] = [];
  for (let i = 0; i < keys.length; i += READ_CONCURRENCY) {
    const chunk = await Promise.all(keys.slice(i, i + READ_CONCURRENCY).map((key) => kv.get(key)));
    for (const entry of chunk) {
      if (!entry || entry.operation !== 'PUT') continue;
      entries.push({ key: entry.key, revision: entry.revision, snapshot: readableSnapshot(() => entry.json<unknown>()) });
    }
  }
  return entries;
}

function readableSnapshot(read: () => unknown): ConfigSnapshot | undefined {
  try {
    const value = read() as Partial<ConfigSnapshot> | null;
    const ok =
      value !== null &&
      typeof value === 'object' &&
      (value.kind === 'project' || value.kind === 'sync') &&
      typeof value.id === 'string' &&
      typeof value.version === 'number';
    return ok ? (value as ConfigSnapshot) : undefined;
  } catch {
    return undefined;
  }
}

async function readDatabase(db: Database): Promise<DatabaseSnapshot[]> {
  const projectRows = await db.select().from(projects).orderBy(projects.createdAt, projects.id);
  const syncRows = await db.select().from(syncs).orderBy(syncs.createdAt, syncs.id);
  return [...projectRows.map(projectSnapshot), ...syncRows.map(syncSnapshot)].map((snapshot) => ({ key: snapshotKey(snapshot), snapshot }));
}

/** Moves the row's version above the bucket's, unless it changed since it was read. */
async function supersede(tx: Transaction, action: Extract<ReconcileAction, { kind: 'supersede' }>, now: Date): Promise<boolean> {
  const { snapshot, version } = action;
  if (snapshot.kind === 'project') {
    const [row] = await tx
      .update(projects)
      .set({ version, updatedAt: now })
      .where(and(eq(projects.id, snapshot.id), eq(projects.version, snapshot.version)))
      .returning();
    if (row) await enqueueSnapshots(tx, [projectSnapshot(row)]);
    return row !== undefined;
  }
  const [row] = await tx
    .update(syncs)
    .set({ version, updatedAt: now })
    .where(and(eq(syncs.id, snapshot.id), eq(syncs.version, snapshot.version)))
    .returning();
  if (row) await recordSyncChange(tx, row, { type: 'updated', changes: {}, actor: RECONCILE_ACTOR, at: now });
  return row !== undefined;
}

/** Tells the watchers the key is deleted (tombstone), then purges it; false if it changed meanwhile. */
async function remove(kv: KV, action: Extract<ReconcileAction, { kind: 'remove' }>): Promise<boolean> {
  try {
    let revision = action.revision;
    if (action.tombstone) revision = await kv.put(action.key, encodeJson(action.tombstone), { previousSeq: revision });
    await kv.purge(action.key, { previousSeq: revision });
    return true;
  } catch (err) {
    if (isWrongLastSequence(err)) return false;
    throw err;
  }
}
