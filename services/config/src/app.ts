import type { Bus, KV, Topology } from '@inkstream/bus';
import type { HttpSender } from '@inkstream/movable-ink';
import type { SecretBox } from '@inkstream/secret-box';
import { createServer, type Logger, type ReadinessCheck, type Registry, type Server } from '@inkstream/service-kit';
import { DEFAULT_CONSOLE_DIR, consoleRoutes } from './console/serve-console.js';
import type { ConfigContext } from './context.js';
import type { DatabaseHandle } from './db/database.js';
import { handleError } from './http/error-handler.js';
import { registerOpenApi } from './http/openapi.js';
import { schemaErrorFormatter } from './http/validation-message.js';
import { strictBodiesCoercedQueries } from './http/validator-compiler.js';
import { v1Routes } from './routes/v1.js';
import type { EndpointPolicy } from './syncs/endpoint-policy.js';

export interface ConfigAppDeps {
  logger: Logger;
  metrics: Registry;
  database: DatabaseHandle;
  secretBox: SecretBox;
  adminToken: string;
  endpointPolicy: EndpointPolicy;
  /** JetStream, for the dead letters and their redrive. */
  bus: Pick<Bus, 'js' | 'jsm'>;
  topology: Topology;
  /** The profiles bucket the filter keeps (read by the preview). */
  profiles: KV;
  /** The config bucket the outbox relay writes, for the on-demand reconciliation. */
  configBucket?: KV;
  /** Sends the test payloads; closing it is the caller's business. */
  sender: HttpSender;
  /** Called after every committed change; the service wakes its outbox relay with it. */
  onChange?: () => void;
  /** The web console's build (default: packages/console/dist of this installation). */
  consoleDir?: string;
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
    bus: deps.bus,
    topology: deps.topology,
    profiles: deps.profiles,
    configBucket: deps.configBucket,
    sender: deps.sender,
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
      ajv: { customOptions: { removeAdditional: false, useDefaults: true, allErrors: false } },
      schemaController: { compilersFactory: { buildValidator: strictBodiesCoercedQueries() } },
      schemaErrorFormatter,
    },
  });
  app.setErrorHandler(handleError);
  await registerOpenApi(app);
  await app.register(v1Routes(ctx, deps.adminToken), { prefix: '/v1' });
  const consoleDir = deps.consoleDir ?? DEFAULT_CONSOLE_DIR;
  await app.register(consoleRoutes({ dir: consoleDir, onMissing: (dir) => deps.logger.warn({ dir }, 'web console not built: /console answers 404') }));
  await app.ready();
  return app;
}
