import {
  ROOT_CONTEXT,
  SpanKind,
  defaultTextMapGetter,
  propagation,
  SpanStatusCode,
  context,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';
import type { MsgHdrs } from '@nats-io/transport-node';
import { extractTraceContext, injectTraceContext, natsHeaderGetter } from './nats-headers.js';
import type { TraceCarrier } from './trace-carrier.js';
import { contextFollowsAsyncWork } from './context-mode.js';

/**
 * Spans around JetStream, after the OpenTelemetry messaging conventions: a PRODUCER span per
 * publish whose context travels in the message headers, a CONSUMER span per processed message
 * parented on that context, and for work that handles several messages at once (one HTTP
 * request for a batch) one span with a link to each message's context.
 *
 * Names are `<operation> <destination template>`, so they stay few however many syncs and
 * partitions there are; the concrete subject is an attribute.
 */
const tracer = trace.getTracer('@inkstream/telemetry');

export const ATTR = {
  system: 'messaging.system',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  destination: 'messaging.destination.name',
  destinationTemplate: 'messaging.destination.template',
  consumerGroup: 'messaging.consumer.group.name',
  messageId: 'messaging.message.id',
  bodySize: 'messaging.message.body.size',
  batchCount: 'messaging.batch.message_count',
  /** JetStream's delivery count of the message (1 = first delivery). */
  deliveryCount: 'inkstream.delivery_count',
} as const;

/**
 * Work done in a span: `ctx` is the span's context, for what the work passes on (publishes,
 * trace ids of records, log lines). It is also the active context when the active context
 * follows async work (context-mode.ts); otherwise use `ctx`, the active one is the caller's.
 */
export type SpanWork<T> = (span: Span, ctx: Context) => Promise<T>;

export interface NatsDestination {
  /** The subject published to or consumed from. */
  subject: string;
  /** Its low-cardinality form, e.g. `inkstream.delivery.{sync}.{partition}`. */
  template: string;
}

export interface PublishInfo extends NatsDestination {
  /** JetStream message id (`Nats-Msg-Id`), when the publish sets one. */
  messageId?: string;
  bodySize?: number;
}

export interface ProcessInfo extends NatsDestination {
  /** The durable consumer the message came through. */
  consumer: string;
  headers: MsgHdrs | undefined;
  messageId?: string;
  deliveryCount?: number;
}

export interface BatchProcessInfo extends NatsDestination {
  consumer: string;
  /** The headers of every message the work covers: each becomes a link. */
  headers: ReadonlyArray<MsgHdrs | undefined>;
}

function baseAttributes(destination: NatsDestination, operation: 'send' | 'process', name: string): Attributes {
  return {
    [ATTR.system]: 'nats',
    [ATTR.operationType]: operation,
    [ATTR.operationName]: name,
    [ATTR.destination]: destination.subject,
    [ATTR.destinationTemplate]: destination.template,
  };
}

/**
 * One JetStream publish in a PRODUCER span: `publish` receives the headers to send (carrying
 * the span's context, or undefined when tracing is off); the span ends when JetStream has
 * acknowledged or refused the message. The active context is not changed, so nothing else is
 * parented on the span by accident.
 */
export async function tracePublish<T>(
  info: PublishInfo,
  publish: (headers: MsgHdrs | undefined) => Promise<T>,
  parent: Context = context.active(),
): Promise<T> {
  const attributes = baseAttributes(info, 'send', 'publish');
  if (info.messageId !== undefined) attributes[ATTR.messageId] = info.messageId;
  if (info.bodySize !== undefined) attributes[ATTR.bodySize] = info.bodySize;
  const span = tracer.startSpan(`publish ${info.template}`, { kind: SpanKind.PRODUCER, attributes }, parent);
  const headers = injectTraceContext(trace.setSpan(parent, span));
  try {
    return await publish(headers);
  } catch (err) {
    failed(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/**
 * Handles one consumed message in a CONSUMER span parented on the context it was published in
 * (a message without one starts a trace). `work` is handed the span's context (and runs with it
 * active when the active context follows async work), so its publishes, HTTP requests and log
 * lines belong to the message's trace.
 */
export function traceProcess<T>(info: ProcessInfo, work: SpanWork<T>): Promise<T> {
  const attributes = baseAttributes(info, 'process', 'process');
  attributes[ATTR.consumerGroup] = info.consumer;
  if (info.messageId !== undefined) attributes[ATTR.messageId] = info.messageId;
  if (info.deliveryCount !== undefined) attributes[ATTR.deliveryCount] = info.deliveryCount;
  const parent = extractTraceContext(info.headers);
  const span = tracer.startSpan(`process ${info.template}`, { kind: SpanKind.CONSUMER, attributes }, parent);
  return runIn(span, parent, work);
}

/**
 * Work that covers several messages at once in one CONSUMER span of its own trace, with a link
 * to each message's context (a span has one parent, so the messages' traces are reached
 * through the links).
 */
export function traceBatchProcess<T>(info: BatchProcessInfo, work: SpanWork<T>): Promise<T> {
  const attributes = baseAttributes(info, 'process', 'process');
  attributes[ATTR.consumerGroup] = info.consumer;
  attributes[ATTR.batchCount] = info.headers.length;
  const links: Link[] = [];
  for (const headers of info.headers) {
    const linked = trace.getSpanContext(extractTraceContext(headers));
    if (linked && trace.isSpanContextValid(linked)) links.push({ context: linked });
  }
  const span = tracer.startSpan(`process ${info.template}`, { kind: SpanKind.CONSUMER, attributes, links, root: true });
  return runIn(span, context.active(), work);
}

/**
 * traceBatchProcess for work whose messages carry their trace context in the body (each
 * payload of a delivery segment) or in headers: one span of its own, a link to each context.
 */
export function traceCarriedBatchProcess<T>(
  info: Omit<BatchProcessInfo, 'headers'> & { carriers: ReadonlyArray<TraceCarrier | MsgHdrs | undefined> },
  work: SpanWork<T>,
): Promise<T> {
  const attributes = baseAttributes(info, 'process', 'process');
  attributes[ATTR.consumerGroup] = info.consumer;
  attributes[ATTR.batchCount] = info.carriers.length;
  // Payloads that all carry one context (a segment: one ingest request's events) are worked in a
  // child of it, so the request's trace goes on to delivery; otherwise a trace of its own, linked.
  const only = sharedCarriedContext(info.carriers);
  if (only !== undefined) {
    const span = tracer.startSpan(`process ${info.template}`, { kind: SpanKind.CONSUMER, attributes }, only);
    return runIn(span, only, work);
  }
  const span = tracer.startSpan(`process ${info.template}`, { kind: SpanKind.CONSUMER, attributes, root: true });
  // The links are read only from a span that is recorded: without an exporter (nothing recorded)
  // a batch costs two parsed contexts at most, not one per payload.
  if (span.isRecording()) span.addLinks(carriedLinks(info.carriers));
  return runIn(span, context.active(), work);
}

/** The traceparent of a carrier, when it has one (a carrier without one is parsed in full). */
function traceparentOf(carrier: TraceCarrier | MsgHdrs): string | undefined {
  if (typeof (carrier as MsgHdrs).get === 'function') {
    const value = natsHeaderGetter.get(carrier as MsgHdrs, 'traceparent');
    return typeof value === 'string' ? value : undefined;
  }
  return (carrier as TraceCarrier).traceparent;
}

/**
 * The context every carrier with a valid one shares (same trace and span id), or undefined when
 * there is none or there are several. Stops at the second context; a traceparent already seen is
 * not parsed again.
 */
export function sharedCarriedContext(carriers: ReadonlyArray<TraceCarrier | MsgHdrs | undefined>): Context | undefined {
  let only: Context | undefined;
  let first: SpanContext | undefined;
  let seen: string | undefined;
  for (const carrier of carriers) {
    if (!carrier) continue;
    const traceparent = traceparentOf(carrier);
    if (traceparent !== undefined && traceparent === seen) continue;
    const carried = extractCarriedContext(carrier);
    const linked = trace.getSpanContext(carried);
    if (!linked || !trace.isSpanContextValid(linked)) continue;
    if (first === undefined) {
      only = carried;
      first = linked;
      seen = traceparent;
    } else if (first.traceId !== linked.traceId || first.spanId !== linked.spanId) return undefined;
  }
  return only;
}

/** A link to each carrier's valid context, one per carrier (a traceparent seen is parsed once). */
function carriedLinks(carriers: ReadonlyArray<TraceCarrier | MsgHdrs | undefined>): Link[] {
  const links: Link[] = [];
  const parsed = new Map<string, SpanContext | undefined>();
  for (const carrier of carriers) {
    if (!carrier) continue;
    const traceparent = traceparentOf(carrier);
    let linked: SpanContext | undefined;
    if (traceparent !== undefined && parsed.has(traceparent)) linked = parsed.get(traceparent);
    else {
      const sc = trace.getSpanContext(extractCarriedContext(carrier));
      linked = sc && trace.isSpanContextValid(sc) ? sc : undefined;
      if (traceparent !== undefined) parsed.set(traceparent, linked);
    }
    if (linked) links.push({ context: linked });
  }
  return links;
}

/** The context in a carrier (a payload's traceparent/tracestate, or message headers). */
export function extractCarriedContext(carrier: TraceCarrier | MsgHdrs | undefined): Context {
  if (!carrier) return ROOT_CONTEXT;
  if (typeof (carrier as MsgHdrs).get === 'function') return extractTraceContext(carrier as MsgHdrs);
  if ((carrier as TraceCarrier).traceparent === undefined) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
}

/** traceProcess for a message whose trace context is carried in its body (a segment's payload). */
export function traceCarriedProcess<T>(
  info: Omit<ProcessInfo, 'headers'> & { carrier: TraceCarrier | MsgHdrs | undefined },
  work: SpanWork<T>,
): Promise<T> {
  const attributes = baseAttributes(info, 'process', 'process');
  attributes[ATTR.consumerGroup] = info.consumer;
  if (info.messageId !== undefined) attributes[ATTR.messageId] = info.messageId;
  if (info.deliveryCount !== undefined) attributes[ATTR.deliveryCount] = info.deliveryCount;
  const parent = extractCarriedContext(info.carrier);
  const span = tracer.startSpan(`process ${info.template}`, { kind: SpanKind.CONSUMER, attributes }, parent);
  return runIn(span, parent, work);
}

async function runIn<T>(span: Span, parent: Context, work: SpanWork<T>): Promise<T> {
  const ctx = trace.setSpan(parent, span);
  try {
    // No store entered when nothing is recorded: the work is handed its context (context-mode.ts).
    return await (contextFollowsAsyncWork() ? context.with(ctx, () => work(span, ctx)) : work(span, ctx));
  } catch (err) {
    failed(span, err);
    throw err;
  } finally {
    span.end();
  }
}

function failed(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/** Sets attributes on the active span, if there is one (for code that may run untraced). */
export function annotateActiveSpan(attributes: Attributes, error?: string): void {
  const span = trace.getActiveSpan();
  if (!span) return;
  span.setAttributes(attributes);
  if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
}

/** True when the active span is recorded (exported), so callers can skip work for its attributes. */
export function activeSpanRecording(): boolean {
  return trace.getActiveSpan()?.isRecording() ?? false;
}

/** The trace id of the active span, for records that point at their trace (outcomes, dead letters). */
export function activeTraceId(): string | undefined {
  return traceIdOf(context.active());
}

/** The trace id of the span in `ctx` (a span's work is handed it: `SpanWork`). */
export function traceIdOf(ctx: Context): string | undefined {
  const sc = trace.getSpan(ctx)?.spanContext();
  return sc && trace.isSpanContextValid(sc) ? sc.traceId : undefined;
}
