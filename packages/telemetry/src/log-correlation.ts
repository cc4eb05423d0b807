import { trace } from '@opentelemetry/api';

export interface TraceFields {
  trace_id?: string;
  span_id?: string;
}

/**
 * `trace_id` and `span_id` of the active span, for a log line written inside a traced context
 * (a pino `mixin`); empty outside one, so untraced lines stay as they were. Always a new object:
 * pino merges the line's own fields into it.
 */
export function activeTraceFields(): TraceFields {
  const sc = trace.getActiveSpan()?.spanContext();
  if (!sc || !trace.isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId };
}
