import { SpanKind, SpanStatusCode, context, propagation, trace, type Context, type Link } from '@opentelemetry/api';
import type { MsgHdrs } from '@nats-io/transport-node';
import { injectTraceContext } from './nats-headers.js';
import { ATTR, type PublishInfo } from './messaging-spans.js';

/**
 * W3C trace context as plain fields, for messages that carry several items each in its own
 * trace (a v2 delivery segment carries one per payload head, not in the message headers).
 */
export interface TraceCarrier {
  traceparent?: string;
  tracestate?: string;
}

const carrierSetter = {
  set(carrier: TraceCarrier, key: string, value: string) {
    if (key === 'traceparent' || key === 'tracestate') carrier[key] = value;
  },
};

const carrierGetter = {
  keys: (carrier: TraceCarrier) => Object.keys(carrier),
  get: (carrier: TraceCarrier, key: string) => (key === 'traceparent' || key === 'tracestate' ? carrier[key] : undefined),
};

/** The trace context of `ctx` (the active one by default) as fields; undefined when there is none. */
export function activeTraceCarrier(ctx: Context = context.active()): TraceCarrier | undefined {
  const sc = trace.getSpanContext(ctx);
  if (!sc || !trace.isSpanContextValid(sc)) return undefined;
  const carrier: TraceCarrier = {};
  propagation.inject(ctx, carrier, carrierSetter);
  return carrier.traceparent !== undefined ? carrier : undefined;
}

/**
 * One publish of a message that carries several items (a delivery segment) in one PRODUCER span
 * of the active context, with a link to each distinct item context other than the parent's (not
 * one span per item). The span's context goes in the message headers.
 */
export async function tracePublishLinked<T>(
  info: PublishInfo & { itemCount: number },
  itemContexts: ReadonlyArray<TraceCarrier | undefined>,
  publish: (headers: MsgHdrs | undefined) => Promise<T>,
  parent: Context = context.active(),
): Promise<T> {
  const attributes: Record<string, string | number> = {
    [ATTR.system]: 'nats',
    [ATTR.operationType]: 'send',
    [ATTR.operationName]: 'publish',
    [ATTR.destination]: info.subject,
    [ATTR.destinationTemplate]: info.template,
    [ATTR.batchCount]: info.itemCount,
  };
  if (info.messageId !== undefined) attributes[ATTR.messageId] = info.messageId;
  if (info.bodySize !== undefined) attributes[ATTR.bodySize] = info.bodySize;
  const parentSc = trace.getSpanContext(parent);
  const links: Link[] = [];
  const seen = new Set<string>();
  for (const carrier of itemContexts) {
    if (!carrier?.traceparent || seen.has(carrier.traceparent)) continue;
    seen.add(carrier.traceparent);
    const sc = trace.getSpanContext(propagation.extract(context.active(), carrier, carrierGetter));
    if (!sc || !trace.isSpanContextValid(sc)) continue;
    if (parentSc && sc.traceId === parentSc.traceId && sc.spanId === parentSc.spanId) continue;
    links.push({ context: sc });
  }
  const span = trace.getTracer('@inkstream/telemetry').startSpan(`publish ${info.template}`, { kind: SpanKind.PRODUCER, attributes, links }, parent);
  const headers = injectTraceContext(trace.setSpan(parent, span));
  try {
    return await publish(headers);
  } catch (err) {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    throw err;
  } finally {
    span.end();
  }
}
