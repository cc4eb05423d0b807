import type { Server } from '@inkstream/service-kit';
import type { ConfigContext } from '../context.js';
import { PreviewBodySchema } from '../preview/input.js';
import { previewSync } from '../preview/preview-sync.js';
import { PreviewResultSchema } from '../preview/resource.js';
import { TestSendResultSchema, sendTestPayload } from '../syncs/send-test-payload.js';
import { SyncParams, adminRoute, errorResponses } from './schemas.js';

const tags = ['syncs'];

/** Tools for the admin that look at a sync without changing it. */
export function syncToolRoutes(ctx: ConfigContext) {
  return async (app: Server): Promise<void> => {
    app.post(
      '/syncs/:syncId/preview',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: 'Preview what a sync sends for an event',
          description:
            'A dry run of the filter for this sync, as it is now (also while disabled): `{event}` (as HTTP V2 takes it) ' +
            'or `{identification}` (as the Identify API takes it), applied to the user’s stored profile. Answers whether ' +
            'it is selected, why not, and exactly the payloads that would be sent. Nothing is sent or stored.',
          params: SyncParams,
          body: PreviewBodySchema,
          response: { 200: PreviewResultSchema, ...errorResponses(400, 404) },
        },
      },
      async (request) => previewSync(ctx, { syncId: request.params.syncId, body: request.body }),
    );

    app.post(
      '/syncs/:syncId/test',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: "Send a test payload to a sync's endpoint",
          description:
            'Sends one identify payload for the user `inkstream-test-user` to the endpoint now, with the sync’s ' +
            'authorization and timeout (also while disabled), and answers what came back. A network failure is an ' +
            'answer too (`ok: false` with the error), not an error of this request.',
          params: SyncParams,
          response: { 200: TestSendResultSchema, ...errorResponses(400, 404, 409) },
        },
      },
      async (request) => sendTestPayload(ctx, request.params),
    );
  };
}
