import type { SyncSnapshot } from '@inkstream/contracts';
import type { SyncRow } from '../db/schema.js';
import { InvalidInputError } from '../errors.js';

/**
 * Snapshots travel as one NATS message, whose default limit is 1 MB; keeping well under it
 * means a saved sync can always be published.
 */
export const MAX_SYNC_SNAPSHOT_BYTES = 512 * 1024;

/** What filter and delivery learn about a sync; the authorization stays sealed. */
export function syncSnapshot(row: SyncRow): SyncSnapshot {
  return {
    kind: 'sync',
    id: row.id,
    projectId: row.projectId,
    name: row.name,
    enabled: row.enabled,
    endpointUrl: row.endpointUrl,
    authorizationSealed: row.authorizationSealed,
    sendEvents: row.sendEvents,
    eventFilters: row.eventFilters,
    eventProperties: row.eventProperties,
    sendUsers: row.sendUsers,
    userProperties: row.userProperties,
    delivery: row.delivery,
    version: row.version,
    deleted: row.deletedAt !== null,
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function assertSnapshotFits(snapshot: SyncSnapshot): void {
  const bytes = Buffer.byteLength(JSON.stringify(snapshot), 'utf8');
  if (bytes > MAX_SYNC_SNAPSHOT_BYTES) {
    throw new InvalidInputError(
      'body',
      `makes the sync's configuration ${bytes} bytes, more than the ${MAX_SYNC_SNAPSHOT_BYTES} allowed (fewer filters, values or properties)`,
    );
  }
}
