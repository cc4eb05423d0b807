import { randomUUID } from 'node:crypto';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifySchema,
  type FastifyServerOptions,
  type FastifyTypeProvider,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import { contextFollowsAsyncWork, requestTraceContext, traceFieldsOf } from '@inkstream/telemetry';
import type { Static, TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export type ReadinessCheck = () => boolean | Promise<boolean>;

export interface CreateServerOptions {
  service: string;
  logger: Logger;
  metrics: Registry;
  /** Named checks that must all pass for /readyz to answer 200. */
  readiness?: Record<string, ReadinessCheck>;
  bodyLimit?: number;
  fastify?: Partial<FastifyServerOptions>;
}

/**
 * Types requests and replies from the @sinclair/typebox 0.34 schemas the contracts are written
 * in (@fastify/type-provider-typebox 6 expects TypeBox 1.x and would turn literal unions into
 * `never`).
 */
export interface TypeBoxProvider extends FastifyTypeProvider {
  validator: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
  serializer: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
}

export type Server = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxProvider
>;

// Routes of the kit are operational, not part of a service's API documentation.
const hidden = { hide: true } as FastifySchema;
/** The kit's operational routes: scraped and probed all day, never logged nor traced. */
const OPERATIONAL: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);
const operational = (url: string | undefined) => OPERATIONAL.has((url ?? '').split('?')[0]!);

/**
 * The fastify server every service starts from: request ids (kept from `x-request-id` or
 * generated), one summary log line per request, /healthz, /readyz and /metrics.
 */
export function createServer(options: CreateServerOptions): Server {
  const { logger, metrics } = options;
  const app = Fastify({
    loggerInstance: logger,
    // fastify's own two lines per request are replaced by one summary line (onResponse below).
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    bodyLimit: options.bodyLimit ?? 1_048_576,
    trustProxy: true,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
    // A request's log lines carry its trace ids. When the active context follows async work the
    // logger's mixin adds them; otherwise (nothing recorded: no context is entered, see the
    // telemetry's context-mode.ts) the request's logger is given them.
    childLoggerFactory: (parent, bindings, childOptions, raw) =>
      parent.child(
        contextFollowsAsyncWork() || operational(raw.url) ? bindings : { ...bindings, ...traceFieldsOf(requestTraceContext(raw)) },
        childOptions,
      ),
    ...options.fastify,
  }).withTypeProvider<TypeBoxProvider>();

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    if (request.url === '/healthz' || request.url === '/readyz' || request.url === '/metrics') return;
    request.log.info(
      {
        method: request.method,
        url: request.routeOptions.url ?? request.url.split('?')[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });

  const checks = options.readiness ?? {};
  app.get('/healthz', { schema: hidden }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: hidden }, async (_request, reply) => {
    const results: Record<string, boolean> = {};
    for (const [name, check] of Object.entries(checks)) {
      try {
        results[name] = await check();
      } catch {
        results[name] = false;
      }
    }
    const ready = Object.values(results).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks: results });
  });
  app.get('/metrics', { schema: hidden }, async (_request, reply) => {
    reply.header('content-type', metrics.contentType);
    return metrics.metrics();
  });
  return app;
}
