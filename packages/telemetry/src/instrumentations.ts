import type { IncomingMessage } from 'node:http';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { trace } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { ATTR_ATTEMPT, httpAttemptOf } from './http-attempt.js';
import type { TelemetrySettings } from './settings.js';

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
 *
 * A request made inside a span that is not recorded is left alone: its client span would not
 * be recorded either (the sampler follows the parent, or decides by trace id like it did for
 * the parent), and building one — URL, attributes, header parsing, ids, `traceparent` — is most
 * of what the instrumentation costs per request. Such a request carries no `traceparent`.
 */
export function undiciInstrumentation(): Instrumentation {
  return new UndiciInstrumentation({
    ignoreRequestHook: () => {
      const active = trace.getActiveSpan();
      return active !== undefined && !active.isRecording();
    },
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

/**
 * The instrumentations of a service. When nothing is recorded anyway (`propagate-only`: no
 * exporter, no OTEL_TRACES_SAMPLER), none:
 * - undici: no client span to record, and with nobody subscribed to its diagnostics channels a
 *   request costs nothing extra;
 * - fastify: its route handler span and the route name it puts on the server span would not be
 *   recorded, and its hooks cost every request (about 3 % of ingest's CPU under the bench);
 * - http: its server span is made in a context it enters (for the ignored routes too), and
 *   entering one turns on async_hooks' promise hooks for the whole process (context-mode.ts).
 *   The request's trace context (the client's `traceparent` carried on, real ids for the logs
 *   and publishes) comes from `requestTraceContext(request)` instead;
 * - pg: it only traces queries under a parent span, which nothing makes active then.
 */
export function defaultInstrumentations(sampling?: TelemetrySettings['sampling']): Instrumentation[] {
  if (sampling === 'propagate-only') return [];
  return [httpInstrumentation(), fastifyInstrumentation(), undiciInstrumentation(), pgInstrumentation()];
}
