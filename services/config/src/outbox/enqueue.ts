import { configKey, type ConfigSnapshot } from '@inkstream/contracts';
import type { Transaction } from '../db/database.js';
import { outbox } from '../db/schema.js';

const INSERT_CHUNK = 500;

export function snapshotKey(snapshot: ConfigSnapshot): string {
  return snapshot.kind === 'project' ? configKey.project(snapshot.id) : configKey.sync(snapshot.id);
}

/** Queues snapshots for the config bucket, in the transaction of the change they describe. */
export async function enqueueSnapshots(tx: Transaction, snapshots: readonly ConfigSnapshot[]): Promise<void> {
  for (let i = 0; i < snapshots.length; i += INSERT_CHUNK) {
    const chunk = snapshots.slice(i, i + INSERT_CHUNK);
    await tx.insert(outbox).values(chunk.map((snapshot) => ({ key: snapshotKey(snapshot), payload: snapshot })));
  }
}
