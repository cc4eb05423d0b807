import type { ConfigContext } from '../context.js';
import { findLiveProject } from '../projects/find.js';
import { eventCatalog, type EventCatalog } from './event-catalog.js';
import { readRecentRecords } from './read-recent-records.js';
import type { RecentEvents } from './resource.js';

/** How many of the project's recent events the suggestions are drawn from. */
export const CATALOG_SAMPLE = 500;

/** A live project's newest ingested events (from the tail of the ingest stream). */
export async function listRecentEvents(ctx: ConfigContext, input: { projectId: string; limit: number }): Promise<RecentEvents> {
  await findLiveProject(ctx.db, input.projectId);
  const { records, scanned } = await readRecentRecords(ctx.bus, ctx.topology, input.projectId, { limit: input.limit });
  return {
    events: records.map((r) => ({ receivedAt: new Date(r.receivedAt).toISOString(), kind: r.kind, event: r.event })),
    scanned,
  };
}

/** Event types and property names recent events of a live project used. */
export async function getEventCatalog(ctx: ConfigContext, input: { projectId: string }): Promise<EventCatalog> {
  await findLiveProject(ctx.db, input.projectId);
  const { records } = await readRecentRecords(ctx.bus, ctx.topology, input.projectId, { limit: CATALOG_SAMPLE });
  return eventCatalog(records);
}
