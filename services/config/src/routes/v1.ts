import type { Server } from '@inkstream/service-kit';
import { requireAdmin } from '../auth/require-admin.js';
import type { ConfigContext } from '../context.js';
import { response } from '../http/error-response.js';
import { refuseOddStrings } from '../http/odd-strings.js';
import { deadLetterRoutes } from './dead-letters.js';
import { deliverySeriesRoutes } from './delivery-series.js';
import { deliveryViewRoutes } from './delivery-views.js';
import { maintenanceRoutes } from './maintenance.js';
import { projectRoutes } from './projects.js';
import { recentEventRoutes } from './recent-events.js';
import { syncToolRoutes } from './sync-tools.js';
import { syncRoutes } from './syncs.js';

/** The admin API: everything under /v1 needs the admin token, unknown paths included. */
export function v1Routes(ctx: ConfigContext, adminToken: string) {
  return async (app: Server): Promise<void> => {
    const admin = requireAdmin(adminToken);
    app.addHook('onRequest', admin);
    app.addHook('preValidation', refuseOddStrings);
    app.setNotFoundHandler({ preHandler: admin }, async (request, reply) =>
      reply.code(404).send(response(404, `Route ${request.method} ${request.url.split('?')[0]} not found`)),
    );
    await app.register(projectRoutes(ctx));
    await app.register(syncRoutes(ctx));
    await app.register(syncToolRoutes(ctx));
    await app.register(deliveryViewRoutes(ctx));
    await app.register(deadLetterRoutes(ctx));
    await app.register(maintenanceRoutes(ctx));
    await app.register(recentEventRoutes(ctx));
    await app.register(deliverySeriesRoutes(ctx));
  };
}
