import { asc, eq } from 'drizzle-orm';
import type { ConfigSnapshot } from '@inkstream/contracts';
import type { Database } from '../db/database.js';
import { outbox } from '../db/schema.js';

/** The snapshots waiting in the outbox under a key, oldest first. */
export async function outboxSnapshots(db: Database, key: string): Promise<ConfigSnapshot[]> {
  const rows = await db.select().from(outbox).where(eq(outbox.key, key)).orderBy(asc(outbox.id));
  return rows.map((row) => row.payload as ConfigSnapshot);
}
