import type { ProjectSnapshot, SyncSnapshot } from '@inkstream/contracts';

export type SyncWork = 'deliver' | 'drain' | 'none';

/** How long after a sync (or its project) was deleted its queue is still drained. */
export const DRAIN_GRACE_MS = 3_600_000;

/**
 * What a sync's owner does with it: deliver while it is active; drain its queue into `sync
 * deleted` dead letters once it or its project is deleted — for a grace period, so payloads a
 * lagging filter publishes after the deletion are dead-lettered too; nothing while it is
 * disabled (the queue is kept, whatever its age). A project not known (yet) never drains.
 */
export function workFor(
  sync: SyncSnapshot,
  project: ProjectSnapshot | undefined,
  active: boolean,
  now: number,
  graceMs: number = DRAIN_GRACE_MS,
): SyncWork {
  if (active) return 'deliver';
  const deletedAt = [sync.deleted ? sync.updatedAt : undefined, project?.deleted ? project.updatedAt : undefined]
    .filter((t): t is string => t !== undefined)
    .map((t) => Date.parse(t));
  if (deletedAt.length === 0) return 'none';
  const when = Math.min(...deletedAt.map((t) => (Number.isNaN(t) ? now : t)));
  return now - when < graceMs ? 'drain' : 'none';
}
