/**
 * What a response (or a failure to get one) means for the payloads of the request.
 * One pure function; the delivery service acts on the result and never looks at statuses.
 */
export type ResponseClass =
  | { kind: 'delivered' }
  /** 429: slow down; does not consume the attempt budget. */
  | { kind: 'throttled'; retryAfterMs?: number }
  /** 408, 5xx except 501, timeouts, connection errors. */
  | { kind: 'retry'; retryAfterMs?: number }
  /** 401/403/404: the sync's credentials or endpoint are wrong; hold and retry. */
  | { kind: 'failing' }
  /** 413: split a batch, discard a single payload. */
  | { kind: 'too-large' }
  /** Other 4xx, 501: will never succeed. */
  | { kind: 'rejected' };

export interface AttemptResult {
  /** HTTP status, when a response arrived. */
  status?: number;
  /** Value of the Retry-After header, if any. */
  retryAfter?: string;
  /** Network-level failure (timeout, reset, refused, DNS). */
  error?: unknown;
}

export function classifyResponse(result: AttemptResult, now: number = Date.now()): ResponseClass {
  const { status } = result;
  if (status === undefined) return { kind: 'retry' };
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  const retryAfterMs = parseRetryAfter(result.retryAfter, now);
  if (status === 429) return retryAfterMs === undefined ? { kind: 'throttled' } : { kind: 'throttled', retryAfterMs };
  if (status === 408 || (status >= 500 && status !== 501)) {
    return retryAfterMs === undefined ? { kind: 'retry' } : { kind: 'retry', retryAfterMs };
  }
  if (status === 401 || status === 403 || status === 404) return { kind: 'failing' };
  if (status === 413) return { kind: 'too-large' };
  // 1xx/3xx (redirects are not followed), other 4xx, 501.
  return { kind: 'rejected' };
}

/** Retry-After as delay-seconds or an HTTP date; capped at one hour; undefined when unusable. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  let ms: number;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else {
    // An HTTP-date always names the weekday and month; anything else is not a date.
    if (!/[A-Za-z]{3}/.test(v)) return undefined;
    const at = Date.parse(v);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(ms, 0), 3_600_000);
}
