import type { Server } from '@inkstream/service-kit';
import type { ConfigContext } from '../context.js';
import { listDeadLetters } from '../dead-letters/list.js';
import { redriveDeadLetters } from '../dead-letters/redrive.js';
import { DeadLetterPageSchema, DeadLettersQuerySchema, RedriveBodySchema, RedriveResultSchema } from '../dead-letters/resource.js';
import { SyncParams, adminRoute, errorResponses } from './schemas.js';

const tags = ['delivery'];

export function deadLetterRoutes(ctx: ConfigContext) {
  return async (app: Server): Promise<void> => {
    app.get(
      '/syncs/:syncId/dead-letters',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: "A sync's dead letters",
          description:
            'Payloads that will not be delivered by themselves (rejected, expired, too large, sync deleted), oldest ' +
            'first, read from the dead-letter stream (kept 14 days): the payload, reason, last status and response, ' +
            'attempts, first and last attempt, trace id. Page with `limit` (≤ 500) and `cursor` = the previous `nextCursor`.',
          params: SyncParams,
          querystring: DeadLettersQuerySchema,
          response: { 200: DeadLetterPageSchema, ...errorResponses(400, 404) },
        },
      },
      async (request) => listDeadLetters(ctx, { syncId: request.params.syncId, ...request.query }),
    );

    app.post(
      '/syncs/:syncId/dead-letters/redrive',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: "Send a sync's dead letters again",
          description:
            'Puts the listed dead letters (`ids`), or all of the sync’s, back into its delivery queue unchanged ' +
            '(same payload and message_id) and removes them from the dead letters. Only this sync’s letters: other ' +
            'ids come back in `notFound`. 409 for a deleted sync. A body is optional.',
          params: SyncParams,
          body: RedriveBodySchema,
          response: { 200: RedriveResultSchema, ...errorResponses(400, 404, 409) },
        },
        // No body at all means "all of them", like `{}`.
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request) => redriveDeadLetters(ctx, { syncId: request.params.syncId, ids: request.body.ids }),
    );
  };
}
