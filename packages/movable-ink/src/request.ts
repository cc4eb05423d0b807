import type { MovableInkPayload } from '@inkstream/contracts';

export const USER_AGENT = `inkstream/${process.env.npm_package_version ?? '0.1.0'}`;

export interface MovableInkRequest {
  method: 'POST';
  headers: Record<string, string>;
  body: string;
}

export interface RequestShape {
  /**
   * The sync batches (`batchSize` > 1): every request is a `{"events":[…]}` envelope, also when a
   * flush carries one payload, so the endpoint sees one format. Default: envelope only for
   * several payloads.
   */
  batched?: boolean;
}

/**
 * One request to a sync's endpoint. With `batchSize` 1 a payload is sent as itself (what Movable
 * Ink asks for); a batching sync sends `{"events":[…]}` envelopes. Single and batch share the
 * payloads.
 */
export function buildRequest(payloads: readonly MovableInkPayload[], authorization: string, shape: RequestShape = {}): MovableInkRequest {
  if (payloads.length === 0) throw new Error('a request needs at least one payload');
  const envelope = shape.batched === true || payloads.length > 1;
  const body = envelope ? JSON.stringify({ events: payloads }) : JSON.stringify(payloads[0]);
  return { method: 'POST', headers: requestHeaders(authorization), body };
}

/** The headers of every request to an endpoint: build them once per authorization and reuse them. */
export function requestHeaders(authorization: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    authorization,
    'user-agent': USER_AGENT,
  };
}

/**
 * The body of a request from payloads already serialized (`JSON.stringify` of each payload):
 * the same bytes as `buildRequest`, without serializing a payload twice.
 */
export function requestBody(payloadJsons: readonly string[], shape: RequestShape = {}): string {
  if (payloadJsons.length === 0) throw new Error('a request needs at least one payload');
  const envelope = shape.batched === true || payloadJsons.length > 1;
  return envelope ? `{"events":[${payloadJsons.join(',')}]}` : payloadJsons[0]!;
}

/** Serialized bytes of a `{"events":[…]}` envelope around payloads of these serialized sizes. */
export const ENVELOPE_BYTES = '{"events":[]}'.length;
