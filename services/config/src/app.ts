import type { SecretBox } from '@inkstream/secret-box';
import { createServer, type Logger, type ReadinessCheck, type Registry, type Server } from '@inkstream/service-kit';
import type { ConfigContext } from './context.js';
import type { DatabaseHandle } from './db/database.js';
import { handleError } from './http/error-handler.js';
import { registerOpenApi } from './http/openapi.js';
import type { TypeBoxProvider } from './http/type-provider.js';
import { schemaErrorFormatter } from './http/validation-message.js';
import { v1Routes } from './routes/v1.js';
import type { EndpointPolicy } from './syncs/endpoint-policy.js';

export interface ConfigAppDeps {
  logger: Logger;
  metrics: Registry;
  database: DatabaseHandle;
  secretBox: SecretBox;
  adminToken: string;
  endpointPolicy: EndpointPolicy;
  /** Called after every committed change; the service wakes its outbox relay with it. */
  onChange?: () => void;
  /** Readiness checks besides `database`, e.g. `nats`. */
  readiness?: Record<string, ReadinessCheck>;
}

/** The config HTTP API, ready for `listen` or for `inject` in tests. */
export async function buildConfigApp(deps: ConfigAppDeps): Promise<Server> {
  const ctx: ConfigContext = {
    db: deps.database.db,
    secretBox: deps.secretBox,
    endpointPolicy: deps.endpointPolicy,
    actor: 'admin',
    changed: deps.onChange ?? (() => undefined),
  };
  const app = createServer({
    service: 'config',
    logger: deps.logger,
    metrics: deps.metrics,
    readiness: {
      database: async () => {
        await deps.database.ping();
        return true;
      },
      ...deps.readiness,
    },
    fastify: {
      // No type coercion: a number where a string belongs (a property name, say) is an error,
      // not silently turned into "1". No route takes numbers from the query string.
      ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
      schemaErrorFormatter,
    },
  });
  app.setErrorHandler(handleError);
  await registerOpenApi(app);
  await app.withTypeProvider<TypeBoxProvider>().register(v1Routes(ctx, deps.adminToken), { prefix: '/v1' });
  await app.ready();
  return app;
}
