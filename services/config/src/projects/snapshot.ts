import type { ProjectSnapshot } from '@inkstream/contracts';
import type { ProjectRow } from '../db/schema.js';

/** What ingest and filter learn about a project: its key only as a hash. */
export function projectSnapshot(row: ProjectRow): ProjectSnapshot {
  return {
    kind: 'project',
    id: row.id,
    name: row.name,
    apiKeyHash: row.apiKeyHash,
    version: row.version,
    deleted: row.deletedAt !== null,
    updatedAt: row.updatedAt.toISOString(),
  };
}
