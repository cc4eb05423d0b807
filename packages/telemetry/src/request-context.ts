import type { IncomingMessage } from 'node:http';
import { ROOT_CONTEXT, SpanKind, context, defaultTextMapGetter, propagation, trace, type Context } from '@opentelemetry/api';
import { contextFollowsAsyncWork } from './context-mode.js';

const tracer = trace.getTracer('@inkstream/telemetry');
const contexts = new WeakMap<IncomingMessage, Context>();

/**
 * The trace context of an incoming HTTP request, for the work done on its behalf (its
 * publishes, its log lines).
 *
 * When the active context follows async work (spans are recorded), the request's server span
 * is active wherever its hooks and handler run (the HTTP and fastify instrumentations): that
 * context. Otherwise (no exporter, context-mode.ts) nothing instruments the server, and the
 * request's span is made here on first use and kept with the request: a child of the client's
 * `traceparent` (or the root of a new trace), not recorded, with real ids — what the HTTP
 * instrumentation made before, without entering a context — so the trace id still reaches
 * the messages and the log lines.
 */
export function requestTraceContext(request: IncomingMessage): Context {
  if (contextFollowsAsyncWork()) return context.active();
  let ctx = contexts.get(request);
  if (ctx === undefined) {
    const parent = propagation.extract(ROOT_CONTEXT, request.headers, defaultTextMapGetter);
    const span = tracer.startSpan(`${request.method ?? 'GET'}`, { kind: SpanKind.SERVER }, parent);
    // Never recorded (the sampler records nothing in this mode): ending it now changes nothing.
    span.end();
    ctx = trace.setSpan(parent, span);
    contexts.set(request, ctx);
  }
  return ctx;
}
