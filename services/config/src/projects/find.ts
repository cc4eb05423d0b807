import { and, eq, isNull } from 'drizzle-orm';
import type { Database, Transaction } from '../db/database.js';
import { projects, type ProjectRow } from '../db/schema.js';
import { NotFoundError } from '../errors.js';

/** A project that has not been deleted, or NotFoundError. */
export async function findLiveProject(db: Database | Transaction, id: string): Promise<ProjectRow> {
  const [row] = await db
    .select()
    .from(projects)
    .where(and(eq(projects.id, id), isNull(projects.deletedAt)));
  if (!row) throw new NotFoundError('project', id);
  return row;
}

/**
 * The same, locked until the transaction ends: `update` to change the project, `share` to
 * change something that belongs to it (a sync) without racing its deletion.
 */
export async function lockLiveProject(tx: Transaction, id: string, mode: 'update' | 'share'): Promise<ProjectRow> {
  const [row] = await tx
    .select()
    .from(projects)
    .where(and(eq(projects.id, id), isNull(projects.deletedAt)))
    .for(mode);
  if (!row) throw new NotFoundError('project', id);
  return row;
}

/** A project, deleted or not, or NotFoundError. */
export async function findProject(db: Database | Transaction, id: string): Promise<ProjectRow> {
  const [row] = await db.select().from(projects).where(eq(projects.id, id));
  if (!row) throw new NotFoundError('project', id);
  return row;
}
