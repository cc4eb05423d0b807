import { PROCESSED_KEYS_MAX_BYTES } from './processed-keys.js';

/** NATS's own default max_payload, used while the server has not said otherwise. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** Room kept in every message for its headers (trace context, message id) and subject. */
export const HEADER_ROOM_BYTES = 4 * 1024;

/** The largest message body (a delivery segment) the server can take. */
export function maxJobBytes(maxPayload: number | undefined): number {
  return (maxPayload ?? DEFAULT_MAX_PAYLOAD) - HEADER_ROOM_BYTES;
}

/** Room kept in a delivery segment for each payload head's trace context (a longer tracestate is left out). */
export const HEAD_TRACE_ROOM_BYTES = 1024;

/** The largest delivery segment of one payload routing lets through (the rest is discarded as too large for NATS). */
export function maxDeliveryBytes(maxPayload: number | undefined): number {
  return maxJobBytes(maxPayload) - HEAD_TRACE_ROOM_BYTES;
}

/**
 * Whether the profile bound fits the server: a profile is one KV value, one message, holding up
 * to maxProfileBytes of properties and fingerprints plus the processed event keys (at most
 * PROCESSED_KEYS_MAX_BYTES). Answers the start-up error to print, or undefined when it fits.
 */
export function profileLimitProblem(maxProfileBytes: number, maxPayload: number | undefined): string | undefined {
  const room = (maxPayload ?? DEFAULT_MAX_PAYLOAD) - HEADER_ROOM_BYTES - PROCESSED_KEYS_MAX_BYTES;
  if (maxProfileBytes <= room) return undefined;
  return (
    `FILTER_PROFILE_MAX_BYTES=${maxProfileBytes} does not fit the NATS server's max_payload ` +
    `(${maxPayload ?? DEFAULT_MAX_PAYLOAD} bytes, less 4 KiB for headers and ${PROCESSED_KEYS_MAX_BYTES} for the processed event keys): ` +
    `set it to at most ${room}, or raise max_payload on the server`
  );
}

export type PublishFailure = 'too large' | 'retry';

/**
 * What a refused publish means. A message over the server's max_payload (refused by the client
 * before sending) or over the stream's max_msg_size (JetStream error 10054) is refused again on
 * every retry: it is discarded with a reason. Anything else (timeouts, no responders, a full
 * stream, a lost connection) passes and is retried.
 */
export function classifyPublishFailure(err: unknown): PublishFailure {
  const e = err as { code?: unknown; api_error?: { err_code?: unknown }; message?: unknown } | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (/max_payload|maximum payload|payload too large/i.test(message)) return 'too large';
  if (e?.api_error?.err_code === 10054 || e?.code === 10054 || /message size exceeds maximum/i.test(message)) return 'too large';
  return 'retry';
}
