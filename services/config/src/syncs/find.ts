import { and, eq, isNull } from 'drizzle-orm';
import type { Database, Transaction } from '../db/database.js';
import { syncs, type SyncRow } from '../db/schema.js';
import { NotFoundError } from '../errors.js';

/** A sync that has not been deleted, or NotFoundError. */
export async function findLiveSync(db: Database | Transaction, id: string): Promise<SyncRow> {
  const [row] = await db
    .select()
    .from(syncs)
    .where(and(eq(syncs.id, id), isNull(syncs.deletedAt)));
  if (!row) throw new NotFoundError('sync', id);
  return row;
}

/** The same, locked for an update until the transaction ends. */
export async function lockLiveSync(tx: Transaction, id: string): Promise<SyncRow> {
  const [row] = await tx
    .select()
    .from(syncs)
    .where(and(eq(syncs.id, id), isNull(syncs.deletedAt)))
    .for('update');
  if (!row) throw new NotFoundError('sync', id);
  return row;
}

/** A sync, deleted or not (its history, metrics and dead letters outlive it), or NotFoundError. */
export async function findSync(db: Database | Transaction, id: string): Promise<SyncRow> {
  const [row] = await db.select().from(syncs).where(eq(syncs.id, id));
  if (!row) throw new NotFoundError('sync', id);
  return row;
}
