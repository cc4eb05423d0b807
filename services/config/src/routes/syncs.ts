import { Type } from '@sinclair/typebox';
import type { Server } from '@inkstream/service-kit';
import type { ConfigContext } from '../context.js';
import { createSync } from '../syncs/create.js';
import { deleteSync } from '../syncs/delete.js';
import { getSync } from '../syncs/get.js';
import { getSyncHistory } from '../syncs/history.js';
import { SyncHistoryEventSchema } from '../syncs/history-event.js';
import { parseIfMatch, versionTag } from '../syncs/if-match.js';
import { SyncCreateSchema, SyncPatchSchema } from '../syncs/input.js';
import { listSyncs } from '../syncs/list.js';
import { SyncSchema } from '../syncs/resource.js';
import { updateSync } from '../syncs/update.js';
import { IfMatchHeaders, NoContent, ProjectParams, SyncParams, adminRoute, errorResponses } from './schemas.js';

const tags = ['syncs'];

export function syncRoutes(ctx: ConfigContext) {
  return async (app: Server): Promise<void> => {
    app.post(
      '/projects/:projectId/syncs',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: 'Create a sync',
          description:
            'Adds a Movable Ink destination to the project. It starts disabled unless `enabled` is true. ' +
            '`authorization` is stored encrypted and only ever shown masked.',
          params: ProjectParams,
          body: SyncCreateSchema,
          response: { 201: SyncSchema, ...errorResponses(400, 404) },
        },
      },
      async (request, reply) => {
        const sync = await createSync(ctx, { projectId: request.params.projectId, sync: request.body });
        return reply.code(201).header('etag', versionTag(sync.version)).send(sync);
      },
    );

    app.get(
      '/projects/:projectId/syncs',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: "List a project's syncs",
          description: 'The syncs of the project that have not been deleted, oldest first.',
          params: ProjectParams,
          response: { 200: Type.Array(SyncSchema), ...errorResponses(400, 404) },
        },
      },
      async (request) => listSyncs(ctx, request.params),
    );

    app.get(
      '/syncs/:syncId',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: 'Get a sync',
          description: 'One sync; the ETag header carries its version for If-Match.',
          params: SyncParams,
          response: { 200: SyncSchema, ...errorResponses(400, 404) },
        },
      },
      async (request, reply) => {
        const sync = await getSync(ctx, request.params);
        return reply.header('etag', versionTag(sync.version)).send(sync);
      },
    );

    app.patch(
      '/syncs/:syncId',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: 'Change a sync',
          description:
            'Changes only the fields given (`delivery` merges with the current settings); setting `enabled` ' +
            'enables or disables it. With `If-Match: <version>` the change applies only to that version (else 409).',
          params: SyncParams,
          headers: IfMatchHeaders,
          body: SyncPatchSchema,
          response: { 200: SyncSchema, ...errorResponses(400, 404, 409) },
        },
      },
      async (request, reply) => {
        const expectedVersion = parseIfMatch(request.headers['if-match']);
        const sync = await updateSync(ctx, { syncId: request.params.syncId, expectedVersion, patch: request.body });
        return reply.header('etag', versionTag(sync.version)).send(sync);
      },
    );

    app.delete(
      '/syncs/:syncId',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: 'Delete a sync',
          description: 'Stops delivery for good; the history stays readable. Honours If-Match like PATCH.',
          params: SyncParams,
          headers: IfMatchHeaders,
          response: { 204: NoContent, ...errorResponses(400, 404, 409) },
        },
      },
      async (request, reply) => {
        const expectedVersion = parseIfMatch(request.headers['if-match']);
        await deleteSync(ctx, { syncId: request.params.syncId, expectedVersion });
        return reply.code(204).send();
      },
    );

    app.get(
      '/syncs/:syncId/history',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: "A sync's change history",
          description:
            'Every change, oldest first: `created`, `updated`, `enabled`, `disabled`, `deleted`, with the changed ' +
            'fields (authorization masked). Available after the sync was deleted.',
          params: SyncParams,
          response: { 200: Type.Array(SyncHistoryEventSchema), ...errorResponses(400, 404) },
        },
      },
      async (request) => getSyncHistory(ctx, request.params),
    );
  };
}
