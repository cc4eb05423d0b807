import type { IncomingMessage } from 'node:http';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { ATTR_ATTEMPT, httpAttemptOf } from './http-attempt.js';

/** Operational routes every service serves: scraped and probed all day, never worth a trace. */
export const UNTRACED_PATHS = ['/healthz', '/readyz', '/metrics'];

const untraced = (url: string | undefined) => UNTRACED_PATHS.includes((url ?? '').split('?')[0]!);

/**
 * The HTTP server span of each request (with its incoming `traceparent`, and the request
 * context bound to the request and response, so every hook and log line runs inside it).
 * Outgoing node:http requests are not traced: the services make none but the OTLP export.
 */
export function httpInstrumentation(): Instrumentation {
  return new HttpInstrumentation({
    ignoreIncomingRequestHook: (request: IncomingMessage) => untraced(request.url),
    disableOutgoingRequestInstrumentation: true,
  });
}

/** Route names on the server span, and one span for the route handler; no span per hook. */
export function fastifyInstrumentation(): Instrumentation {
  return new FastifyOtelInstrumentation({
    registerOnInitialization: true,
    instrumentHooks: false,
    ignorePaths: (route: { url: string }) => untraced(route.url),
    // Handlers are anonymous functions: name their span after the route instead.
    lifecycleHook: (span, info) => {
      if (info.hookName === 'handler') span.updateName(`handler ${info.request.routeOptions.url ?? info.request.url}`);
    },
  }) as unknown as Instrumentation;
}

/**
 * The HTTP client span of every undici request (the POST to Movable Ink), with the attempt
 * number the caller put in the context (`withHttpAttempt`).
 */
export function undiciInstrumentation(): Instrumentation {
  return new UndiciInstrumentation({
    requestHook: (span) => {
      const attempt = httpAttemptOf();
      if (attempt !== undefined) span.setAttribute(ATTR_ATTEMPT, attempt);
    },
  });
}

/** Postgres queries made on behalf of a traced request; background polling stays untraced. */
export function pgInstrumentation(): Instrumentation {
  return new PgInstrumentation({ requireParentSpan: true });
}

export function defaultInstrumentations(): Instrumentation[] {
  return [httpInstrumentation(), fastifyInstrumentation(), undiciInstrumentation(), pgInstrumentation()];
}
