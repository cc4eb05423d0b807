/** Errors of the NATS client that mean "NATS cannot be reached now", not "the request is wrong". */
const UNAVAILABLE_NAMES = new Set([
  'TimeoutError',
  'NoResponders',
  'NoRespondersError',
  'ClosedConnectionError',
  'DrainingConnectionError',
  'ConnectionError',
  'RequestError',
]);

/** True when an error (or one of its causes) says NATS is unreachable, so the API answers 503. */
export function isBusUnavailable(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 8 && current !== null && typeof current === 'object'; depth++) {
    const name = (current as { name?: unknown }).name;
    if (typeof name === 'string' && UNAVAILABLE_NAMES.has(name)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
