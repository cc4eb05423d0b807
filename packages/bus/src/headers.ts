import type { MsgHdrs } from '@nats-io/transport-node';

// Trace context is written into and read from message headers by @inkstream/telemetry
// (injectTraceContext / extractTraceContext); these helpers only read what is there.

/** Reads NATS headers into a plain carrier. */
export function carrierFrom(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const k of h.keys()) out[k.toLowerCase()] = h.get(k);
  return out;
}

/** The trace id of a W3C `traceparent` header carried by a message, if any. */
export function traceIdOf(h: MsgHdrs | undefined): string | undefined {
  const traceparent = h?.get('traceparent');
  if (!traceparent) return undefined;
  const parts = traceparent.split('-');
  return parts.length >= 4 && /^[0-9a-f]{32}$/.test(parts[1]!) ? parts[1] : undefined;
}
