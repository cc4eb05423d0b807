import { Type } from '@sinclair/typebox';
import type { Server } from '@inkstream/service-kit';
import type { ConfigContext } from '../context.js';
import { reconcileConfigBucket } from '../outbox/reconcile.js';
import { adminRoute, errorResponses } from './schemas.js';

const ReconcileResultSchema = Type.Object({
  published: Type.Integer({ description: 'Snapshots queued because the bucket lacked them or held an older version' }),
  superseded: Type.Integer({ description: 'Projects and syncs given a version above the bucket’s (a restored database), then queued' }),
  removed: Type.Integer({ description: 'Keys the database does not have: told deleted, then purged from the bucket' }),
  skipped: Type.Integer({ description: 'Keys changed by someone else meanwhile, left for the next run' }),
});

/** Operations on the service's own machinery (what start-up does, on demand). */
export function maintenanceRoutes(ctx: ConfigContext) {
  return async (app: Server): Promise<void> => {
    const bucket = ctx.configBucket;
    if (!bucket) return;
    app.post(
      '/config-bucket/reconcile',
      {
        schema: {
          ...adminRoute,
          tags: ['operations'],
          summary: 'Make the config bucket equal to the database',
          description:
            'What the service does at every start: the database is the source of truth. Every project and sync it has ' +
            '(deleted ones as `deleted: true`) is published to the NATS config bucket at its version; every key the ' +
            'database does not have (a fresh or restored database) is first published as deleted, so ingest, filter and ' +
            'delivery drop it at once, then purged. Publishing goes through the outbox: the answer counts what was queued.',
          response: { 200: ReconcileResultSchema, ...errorResponses() },
        },
      },
      async () => {
        const result = await reconcileConfigBucket(ctx.db, bucket);
        if (result.published + result.superseded > 0) ctx.changed();
        return result;
      },
    );
  };
}
