import type { Transaction } from '../db/database.js';
import { syncHistory, type SyncChanges, type SyncHistoryType, type SyncRow } from '../db/schema.js';
import { enqueueSnapshots } from '../outbox/enqueue.js';
import { syncSnapshot } from './snapshot.js';

export interface SyncChange {
  type: SyncHistoryType;
  changes: SyncChanges;
  actor: string;
  at: Date;
}

/**
 * The two records every sync change leaves, written in the change's own transaction: its
 * history event and the new snapshot for the outbox.
 */
export async function recordSyncChange(tx: Transaction, row: SyncRow, change: SyncChange): Promise<void> {
  await tx.insert(syncHistory).values({
    syncId: row.id,
    version: row.version,
    type: change.type,
    at: change.at,
    actor: change.actor,
    changes: change.changes,
  });
  await enqueueSnapshots(tx, [syncSnapshot(row)]);
}
