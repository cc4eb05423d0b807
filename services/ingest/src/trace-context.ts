import type { IncomingHttpHeaders } from 'node:http';

// W3C Trace Context: version-traceid-parentid-flags, lower-case hex; version ff and all-zero
// ids are invalid.
const TRACEPARENT = /^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
const TRACESTATE = /^[\x20-\x7e]{1,512}$/;

const single = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value)?.trim();

/**
 * The request's W3C trace context, to travel with each stored event in the NATS headers.
 * Only well-formed values are kept: a client's header must not break the message headers.
 */
export function traceContextOf(headers: IncomingHttpHeaders): Record<string, string> {
  const traceparent = single(headers.traceparent);
  if (traceparent === undefined || !TRACEPARENT.test(traceparent)) return {};
  const tracestate = single(headers.tracestate);
  return tracestate !== undefined && TRACESTATE.test(tracestate) ? { traceparent, tracestate } : { traceparent };
}
