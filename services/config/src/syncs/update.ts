import { eq } from 'drizzle-orm';
import { maskAuthorization } from '@inkstream/movable-ink';
import type { SecretBox } from '@inkstream/secret-box';
import type { ConfigContext } from '../context.js';
import { syncs, type SyncRow } from '../db/schema.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { lockLiveProject } from '../projects/find.js';
import { authorizationHeaderFrom } from './authorization.js';
import { diffSettings, historyTypeOf, settingsOf } from './changes.js';
import { mergeDeliverySettings } from './delivery-settings.js';
import { assertEndpointAllowed } from './endpoint-policy.js';
import { assertEventFiltersValid } from './event-filters.js';
import { findLiveSync, lockLiveSync } from './find.js';
import type { SyncPatchInput } from './input.js';
import { recordSyncChange } from './record-change.js';
import { toSync, type Sync } from './resource.js';
import { assertSnapshotFits, syncSnapshot } from './snapshot.js';

export interface UpdateSyncInput {
  syncId: string;
  /** The version the caller last saw (If-Match); a different current version is a conflict. */
  expectedVersion?: number | undefined;
  patch: SyncPatchInput;
}

/**
 * Applies the given fields. A change that changes nothing leaves the version, the history and
 * the outbox alone.
 */
export async function updateSync(ctx: ConfigContext, input: UpdateSyncInput): Promise<Sync> {
  const { patch } = input;
  const authorization = patch.authorization === undefined ? undefined : authorizationHeaderFrom(patch.authorization);
  if (patch.eventFilters) assertEventFiltersValid(patch.eventFilters);
  if (patch.endpointUrl !== undefined) await assertEndpointAllowed(ctx.endpointPolicy, patch.endpointUrl);

  const now = new Date();
  let changed = false;
  const row = await ctx.db.transaction(async (tx) => {
    // Lock the project before the sync, the order deleting a project takes them in.
    const seen = await findLiveSync(tx, input.syncId);
    try {
      await lockLiveProject(tx, seen.projectId, 'share');
    } catch (err) {
      if (err instanceof NotFoundError) {
        throw new ConflictError(`sync ${seen.id} belongs to project ${seen.projectId}, which was deleted`);
      }
      throw err;
    }
    const current = await lockLiveSync(tx, input.syncId);
    if (input.expectedVersion !== undefined && input.expectedVersion !== current.version) {
      throw new ConflictError(`sync ${current.id} is at version ${current.version}, not ${input.expectedVersion}`);
    }

    const authorizationChanged =
      authorization !== undefined && !holdsSecret(ctx.secretBox, current.authorizationSealed, authorization);
    const next = {
      name: patch.name ?? current.name,
      enabled: patch.enabled ?? current.enabled,
      endpointUrl: patch.endpointUrl ?? current.endpointUrl,
      authorizationSealed: authorizationChanged ? ctx.secretBox.seal(authorization) : current.authorizationSealed,
      authorizationHint: authorizationChanged ? maskAuthorization(authorization) : current.authorizationHint,
      sendEvents: patch.sendEvents ?? current.sendEvents,
      eventFilters: patch.eventFilters ?? current.eventFilters,
      eventProperties: patch.eventProperties ?? current.eventProperties,
      sendUsers: patch.sendUsers ?? current.sendUsers,
      userProperties: patch.userProperties ?? current.userProperties,
      delivery: mergeDeliverySettings(current.delivery, patch.delivery),
    } satisfies Partial<SyncRow>;

    const changes = diffSettings(settingsOf(current), settingsOf({ ...current, ...next }), authorizationChanged);
    if (Object.keys(changes).length === 0) return current;

    const [updated] = await tx
      .update(syncs)
      .set({ ...next, version: current.version + 1, updatedAt: now })
      .where(eq(syncs.id, current.id))
      .returning();
    assertSnapshotFits(syncSnapshot(updated!));
    await recordSyncChange(tx, updated!, { type: historyTypeOf(changes), changes, actor: ctx.actor, at: now });
    changed = true;
    return updated!;
  });
  if (changed) ctx.changed();
  return toSync(row);
}

/** Whether the sealed header is this one; one that cannot be opened (rotated SECRET_KEY) is not. */
function holdsSecret(secretBox: SecretBox, sealed: string, header: string): boolean {
  try {
    return secretBox.open(sealed) === header;
  } catch {
    return false;
  }
}
