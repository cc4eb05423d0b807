import type { SecretBox } from '@inkstream/secret-box';
import type { Database } from '../db/database.js';
import { projects, syncs } from '../db/schema.js';
import type { SealedValue } from './key-verdict.js';

export interface StoredSealedValue extends SealedValue {
  sealed: string;
}

/** Every sealed value in the database, deleted rows included, with the key that opens it. */
export async function readSealedValues(db: Database, secretBox: SecretBox): Promise<StoredSealedValue[]> {
  const projectRows = await db.select({ id: projects.id, sealed: projects.apiKeySealed, deletedAt: projects.deletedAt }).from(projects);
  const syncRows = await db.select({ id: syncs.id, sealed: syncs.authorizationSealed, deletedAt: syncs.deletedAt }).from(syncs);
  return [
    ...projectRows.map((row) => ({ kind: 'project' as const, id: row.id, sealed: row.sealed, deleted: row.deletedAt !== null })),
    ...syncRows.map((row) => ({ kind: 'sync' as const, id: row.id, sealed: row.sealed, deleted: row.deletedAt !== null })),
  ].map((value) => ({ ...value, key: secretBox.keyOf(value.sealed) }));
}
