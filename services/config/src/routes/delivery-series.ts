import type { Server } from '@inkstream/service-kit';
import type { ConfigContext } from '../context.js';
import { getDeliverySeries } from '../delivery-series/get-series.js';
import { DeliverySeriesSchema } from '../delivery-series/resource.js';
import { MetricsQuerySchema } from '../delivery-views/resource.js';
import { SyncParams, adminRoute, errorResponses } from './schemas.js';

export function deliverySeriesRoutes(ctx: ConfigContext) {
  return async (app: Server): Promise<void> => {
    app.get(
      '/syncs/:syncId/metrics/series',
      {
        schema: {
          ...adminRoute,
          tags: ['delivery'],
          summary: "A sync's deliveries and failures over time",
          description:
            'The same window as `/metrics` (`period`, default ONE_DAY, or `start` and `end`) cut into at most 60 even ' +
            'buckets of whole minutes: delivered and not delivered payloads and failed requests per bucket.',
          params: SyncParams,
          querystring: MetricsQuerySchema,
          response: { 200: DeliverySeriesSchema, ...errorResponses(400, 404) },
        },
      },
      async (request) => getDeliverySeries(ctx, { syncId: request.params.syncId, ...request.query }),
    );
  };
}
