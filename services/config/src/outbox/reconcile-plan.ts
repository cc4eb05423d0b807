import type { ConfigSnapshot } from '@inkstream/contracts';

/** What the config bucket holds under a key, as read at the start of a reconciliation. */
export interface BucketEntry {
  key: string;
  revision: number;
  /** The stored snapshot; undefined when the value is not a readable snapshot. */
  snapshot: ConfigSnapshot | undefined;
}

/** A project or sync as the database has it, with the key its snapshot goes under. */
export interface DatabaseSnapshot {
  key: string;
  snapshot: ConfigSnapshot;
}

export type ReconcileAction =
  /** The bucket lacks the key, holds an older version or something unreadable: publish the database's. */
  | { kind: 'publish'; key: string; snapshot: ConfigSnapshot }
  /**
   * The bucket holds a newer version than the database (a database restored from a backup):
   * the database's state must win, but the other services ignore versions they have passed, so
   * the row gets a version above the bucket's and is published with it.
   */
  | { kind: 'supersede'; key: string; snapshot: ConfigSnapshot; version: number }
  /**
   * The database does not have it (a fresh or restored database): the services that know the
   * key are told it is deleted (a snapshot `deleted: true` with the next version, which running
   * views apply), then the key is purged.
   */
  | { kind: 'remove'; key: string; revision: number; tombstone: ConfigSnapshot | undefined };

/**
 * How to make the config bucket equal to the database, the source of truth. Every project and
 * sync of the database, deleted ones included (their `deleted: true` snapshot is what tells a
 * service that was down at the time), is in the bucket at its version; nothing else is.
 */
export function planReconciliation(database: readonly DatabaseSnapshot[], bucket: readonly BucketEntry[]): ReconcileAction[] {
  const held = new Map(bucket.map((entry) => [entry.key, entry]));
  const actions: ReconcileAction[] = [];
  for (const { key, snapshot } of database) {
    const entry = held.get(key);
    held.delete(key);
    const heldVersion = entry?.snapshot?.version;
    if (heldVersion === undefined || heldVersion < snapshot.version) actions.push({ kind: 'publish', key, snapshot });
    else if (heldVersion > snapshot.version) actions.push({ kind: 'supersede', key, snapshot, version: heldVersion + 1 });
  }
  for (const entry of held.values()) {
    const stored = entry.snapshot;
    const tombstone = stored && !stored.deleted ? { ...stored, deleted: true, version: stored.version + 1, updatedAt: new Date().toISOString() } : undefined;
    actions.push({ kind: 'remove', key: entry.key, revision: entry.revision, tombstone });
  }
  return actions;
}
