import { runningTelemetry } from './running.js';

/**
 * Whether the active context follows asynchronous work (OpenTelemetry's AsyncLocalStorage
 * context manager, `context.with`), or is handed to the work that needs it.
 *
 * It follows it when spans are recorded: the instrumentations (fastify, undici, pg) find their
 * parent span in the active context. When nothing is recorded (no exporter, `propagate-only`),
 * trace ids still travel but no instrumentation needs the active context, and entering an
 * AsyncLocalStorage store once is enough, on Node 20, to turn on async_hooks' promise hooks for
 * the rest of the process: every promise then pays for a hook (2–3 % of each service's CPU). So
 * then no store is entered: the spans of our own code (messaging-spans.ts) hand their context to
 * the work (`work(span, ctx)`), and a request's context is `requestTraceContext(request)`.
 *
 * Without a running SDK (tests with their own tracer provider, or no telemetry at all) the
 * active context is used as before: the context manager registered decides what it costs.
 */
export function contextFollowsAsyncWork(): boolean {
  return runningTelemetry()?.settings.sampling !== 'propagate-only';
}
