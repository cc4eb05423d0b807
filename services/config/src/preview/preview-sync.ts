import { eventKeyOf, type IngestedRecord } from '@inkstream/contracts';
import { compileFilters, emptyProfile, profileKey, routeRecord, type ProfileEntry } from '@inkstream/sync-routing';
import type { ConfigContext } from '../context.js';
import { findProject } from '../projects/find.js';
import { findLiveSync } from '../syncs/find.js';
import { syncSnapshot } from '../syncs/snapshot.js';
import { explainPreview } from './explain.js';
import { previewSubject, type PreviewBody } from './input.js';
import type { PreviewResult } from './resource.js';

/**
 * What the sync would send for an event or identification now: the filter's own routing
 * (routeRecord) over the sync as it is — enabled or not — and the user's stored profile.
 * Nothing is sent, and neither the profile nor anything else is stored.
 */
export async function previewSync(
  ctx: ConfigContext,
  input: { syncId: string; body: PreviewBody },
  now = Date.now(),
): Promise<PreviewResult> {
  const subject = previewSubject(input.body);
  const row = await findLiveSync(ctx.db, input.syncId);
  const project = await findProject(ctx.db, row.projectId);
  const sync = syncSnapshot(row);
  const record: IngestedRecord = {
    v: 1,
    kind: subject.kind,
    projectId: row.projectId,
    receivedAt: now,
    eventKey: eventKeyOf(subject.event),
    userKey: subject.userKey,
    event: subject.event,
  };
  const { profile, stored } = await readProfile(ctx, row.projectId, subject.userKey);
  // A sequence after the profile's last, so the event's user properties apply as they would.
  const routed = routeRecord(record, profile.lastSeq + 1, profile, [{ sync, select: compileFilters(sync.eventFilters) }], now);
  const explanation = explainPreview(subject, sync, routed);

  const notes: string[] = [];
  if (project.deletedAt !== null) notes.push('the project is deleted: nothing is sent for it');
  else if (!row.enabled) notes.push('the sync is disabled: nothing is sent until it is enabled');
  if (!stored) notes.push('no profile is stored for this user yet: previewed as a new user');
  if (subject.kind === 'event' && routed.payloads.some((job) => job.payloadType === 'identify') && subject.event.event_type !== '$identify') {
    notes.push('an identify comes first: the user is new to this sync, or their selected user properties or ids changed');
  }
  return {
    selected: explanation.selected,
    ...(explanation.reason !== undefined ? { reason: explanation.reason } : {}),
    // Routed with their payload objects (routeRecord's default).
    payloads: routed.payloads.map((job) => job.payload!),
    discarded: routed.discards.map((d) => ({ payloadType: d.payloadType, messageId: d.messageId, reason: d.reason })),
    notes,
  };
}

async function readProfile(ctx: ConfigContext, projectId: string, userKey: string): Promise<{ profile: ProfileEntry; stored: boolean }> {
  const entry = await ctx.profiles.get(profileKey(projectId, userKey));
  if (!entry || entry.operation !== 'PUT' || entry.length === 0) return { profile: emptyProfile(), stored: false };
  return { profile: entry.json<ProfileEntry>(), stored: true };
}
