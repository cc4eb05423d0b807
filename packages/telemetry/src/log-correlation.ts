import { context, trace, type Context } from '@opentelemetry/api';
import { contextFollowsAsyncWork } from './context-mode.js';

export interface TraceFields {
  trace_id?: string;
  span_id?: string;
}

/** `trace_id` and `span_id` of the span in `ctx`; empty when it has none. Always a new object. */
export function traceFieldsOf(ctx: Context): TraceFields {
  const sc = trace.getSpan(ctx)?.spanContext();
  if (!sc || !trace.isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId };
}

/**
 * `trace_id` and `span_id` of the active span, for a log line written inside a traced context
 * (a pino `mixin`); empty outside one, so untraced lines stay as they were. Always a new object:
 * pino merges the line's own fields into it.
 */
export function activeTraceFields(): TraceFields {
  return traceFieldsOf(context.active());
}

/**
 * The trace fields a log line about work in `ctx` must carry itself: none when the active
 * context follows the work (the logger's mixin adds them, see `activeTraceFields`), those of
 * `ctx` when work is handed its context explicitly (context-mode.ts).
 */
export function explicitTraceFields(ctx: Context): TraceFields {
  return contextFollowsAsyncWork() ? {} : traceFieldsOf(ctx);
}
