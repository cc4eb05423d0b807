import { Type } from '@sinclair/typebox';
import type { Server } from '@inkstream/service-kit';
import type { ConfigContext } from '../context.js';
import { getSyncMetrics } from '../delivery-views/get-metrics.js';
import { listSyncErrors } from '../delivery-views/list-errors.js';
import { DeliveryErrorSchema, DeliveryMetricsSchema, ErrorsQuerySchema, MetricsQuerySchema } from '../delivery-views/resource.js';
import { SyncParams, adminRoute, errorResponses } from './schemas.js';

const tags = ['delivery'];

export function deliveryViewRoutes(ctx: ConfigContext) {
  return async (app: Server): Promise<void> => {
    app.get(
      '/syncs/:syncId/metrics',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: "A sync's delivery metrics",
          description:
            "Amplitude's delivery-metrics summary plus `pendingRetries`, over a period up to now (`period`, default " +
            'ONE_DAY) or a custom range (`start` and `end`, ISO 8601; `timePeriod` is then CUSTOM). Counted per whole ' +
            'minute, kept 90 days. Counts are of payloads. Available after the sync was deleted.',
          params: SyncParams,
          querystring: MetricsQuerySchema,
          response: { 200: DeliveryMetricsSchema, ...errorResponses(400, 404) },
        },
      },
      async (request) => getSyncMetrics(ctx, { syncId: request.params.syncId, ...request.query }),
    );

    app.get(
      '/syncs/:syncId/errors',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: "A sync's recent failed attempts",
          description:
            'Failed delivery attempts, newest first (`limit`, default 50, at most 1000; the newest 1,000 are kept): ' +
            'status, error, start of the response, Movable Ink request id, attempt, payload type and trace id.',
          params: SyncParams,
          querystring: ErrorsQuerySchema,
          response: { 200: Type.Array(DeliveryErrorSchema), ...errorResponses(400, 404) },
        },
      },
      async (request) => listSyncErrors(ctx, { syncId: request.params.syncId, limit: request.query.limit }),
    );
  };
}
