import { randomUUID } from 'node:crypto';
import { DEFAULT_DELIVERY_SETTINGS } from '@inkstream/contracts';
import { maskAuthorization } from '@inkstream/movable-ink';
import type { ConfigContext } from '../context.js';
import { syncs } from '../db/schema.js';
import { lockLiveProject } from '../projects/find.js';
import { authorizationHeaderFrom } from './authorization.js';
import { diffSettings, settingsOf } from './changes.js';
import { mergeDeliverySettings } from './delivery-settings.js';
import { assertEndpointAllowed } from './endpoint-policy.js';
import { assertEventFiltersValid } from './event-filters.js';
import type { SyncCreateInput } from './input.js';
import { recordSyncChange } from './record-change.js';
import { toSync, type Sync } from './resource.js';
import { assertSnapshotFits, syncSnapshot } from './snapshot.js';

export async function createSync(ctx: ConfigContext, input: { projectId: string; sync: SyncCreateInput }): Promise<Sync> {
  const { sync } = input;
  const authorization = authorizationHeaderFrom(sync.authorization);
  const eventFilters = sync.eventFilters ?? [];
  assertEventFiltersValid(eventFilters);
  await assertEndpointAllowed(ctx.endpointPolicy, sync.endpointUrl);

  const now = new Date();
  const row = await ctx.db.transaction(async (tx) => {
    await lockLiveProject(tx, input.projectId, 'share');
    const [created] = await tx
      .insert(syncs)
      .values({
        id: randomUUID(),
        projectId: input.projectId,
        name: sync.name,
        destination: 'movable-ink',
        enabled: sync.enabled ?? false,
        endpointUrl: sync.endpointUrl,
        authorizationSealed: ctx.secretBox.seal(authorization),
        authorizationHint: maskAuthorization(authorization),
        sendEvents: sync.sendEvents ?? true,
        eventFilters,
        eventProperties: sync.eventProperties ?? [],
        sendUsers: sync.sendUsers ?? false,
        userProperties: sync.userProperties ?? [],
        delivery: mergeDeliverySettings(DEFAULT_DELIVERY_SETTINGS, sync.delivery),
        statusState: 'healthy',
        version: 1,
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    assertSnapshotFits(syncSnapshot(created!));
    await recordSyncChange(tx, created!, {
      type: 'created',
      changes: diffSettings(undefined, settingsOf(created!)),
      actor: ctx.actor,
      at: now,
    });
    return created!;
  });
  ctx.changed();
  return toSync(row);
}
