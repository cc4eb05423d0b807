import type { Server } from '@inkstream/service-kit';
import type { ConfigContext } from '../context.js';
import { getEventCatalog, listRecentEvents } from '../recent-events/list-recent-events.js';
import { EventCatalogSchema, RecentEventsQuerySchema, RecentEventsSchema } from '../recent-events/resource.js';
import { ProjectParams, adminRoute, errorResponses } from './schemas.js';

const tags = ['projects'];

/** What a project's apps sent lately: for picking a preview event and for suggestions. */
export function recentEventRoutes(ctx: ConfigContext) {
  return async (app: Server): Promise<void> => {
    app.get(
      '/projects/:projectId/recent-events',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: "A project's recently ingested events",
          description:
            'The newest events ingest accepted for the project, newest first, as stored (to preview one). Read from the ' +
            'last 2,000 messages of the ingest stream (all projects share it), so a quiet project among busy ones may ' +
            'get fewer or none; events leave the stream after its retention (7 days).',
          params: ProjectParams,
          querystring: RecentEventsQuerySchema,
          response: { 200: RecentEventsSchema, ...errorResponses(400, 404) },
        },
      },
      async (request) => listRecentEvents(ctx, { projectId: request.params.projectId, limit: request.query.limit }),
    );

    app.get(
      '/projects/:projectId/event-catalog',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: 'Event types and property names seen lately',
          description:
            "Which event types, event properties, user properties and event fields the project's recent events " +
            '(up to 500, from the same look at the ingest stream as recent-events) used, most frequent first: ' +
            'suggestions for filters and allow-lists, not a schema.',
          params: ProjectParams,
          response: { 200: EventCatalogSchema, ...errorResponses(400, 404) },
        },
      },
      async (request) => getEventCatalog(ctx, request.params),
    );
  };
}
