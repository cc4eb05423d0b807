import { ROOT_CONTEXT, context, propagation, trace, type Context, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import { Match, headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';

/**
 * Trace context through NATS message headers (W3C `traceparent` / `tracestate`, through the
 * globally registered propagator). nats.js ships no OpenTelemetry instrumentation, so publishers
 * inject and consumers extract here.
 */
export const natsHeaderSetter: TextMapSetter<MsgHdrs> = {
  set(carrier, key, value) {
    carrier.set(key, value);
  },
};

export const natsHeaderGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys(carrier) {
    return carrier ? carrier.keys() : [];
  },
  get(carrier, key) {
    if (!carrier?.has(key, Match.IgnoreCase)) return undefined;
    // Another producer may have written `Traceparent`; header names are case-insensitive.
    const values = carrier.values(key, Match.IgnoreCase);
    return values.length > 1 ? values : values[0];
  },
};

/**
 * Writes `ctx`'s trace context into `headers` (created when not given, since publish options
 * take one headers object per message). Returns undefined when there is nothing to carry
 * (no SDK, or no span in `ctx`), so a publish can skip headers altogether.
 */
export function injectTraceContext(ctx: Context = context.active(), headers?: MsgHdrs): MsgHdrs | undefined {
  const sc = trace.getSpanContext(ctx);
  if (!sc || !trace.isSpanContextValid(sc)) return headers;
  const h = headers ?? natsHeaders();
  propagation.inject(ctx, h, natsHeaderSetter);
  return headers ?? (h.keys().length > 0 ? h : undefined);
}

/**
 * The context a message was published in, as the parent of the work done on it. Starts from
 * the root context: a message's own trace wins over whatever happens to be active.
 */
export function extractTraceContext(headers: MsgHdrs | undefined, base: Context = ROOT_CONTEXT): Context {
  return headers ? propagation.extract(base, headers, natsHeaderGetter) : base;
}
