import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';

/** Builds NATS headers from a carrier (for example W3C `traceparent` / `tracestate`). */
export function headersFrom(carrier: Record<string, string | undefined>): MsgHdrs | undefined {
  let h: MsgHdrs | undefined;
  for (const [k, v] of Object.entries(carrier)) {
    if (v === undefined) continue;
    h ??= natsHeaders();
    h.set(k, v);
  }
  return h;
}

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
