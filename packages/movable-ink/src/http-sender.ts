import { Pool } from 'undici';
import { guardedLookup, literalHostBlocked, PrivateEndpointError } from '@inkstream/endpoint-guard';
import type { AttemptResult } from './classify-response.js';
import type { MovableInkRequest } from './request.js';

export const RESPONSE_EXCERPT_BYTES = 2048;
/**
 * Bytes of a response body read (and thrown away past the excerpt) so the keep-alive connection
 * can be reused; a longer body closes the connection instead of being read to its end.
 */
export const RESPONSE_DRAIN_LIMIT_BYTES = 64 * 1024;

export interface SendResult extends AttemptResult {
  latencyMs: number;
  /** First 2 KB of the response body (or the error message). */
  responseExcerpt: string;
  /** Movable Ink's request id, when it sent one. */
  requestId?: string;
}

export interface HttpSenderOptions {
  allowPrivateEndpoints: boolean;
  /** Upper bound of keep-alive connections per endpoint origin. */
  connectionsPerOrigin: number;
}

/**
 * An endpoint URL parsed and checked once (`HttpSender.endpoint`), for as long as the sync's
 * configuration does not change: sending to it parses nothing.
 */
export interface Endpoint {
  readonly url: string;
  readonly origin: string;
  /** Path and query string, as sent in the request line. */
  readonly path: string;
  /** Why nothing can be sent to it (an unparsable URL, a private address): every send fails with it. */
  readonly problem?: unknown;
}

/** A timeout of the whole request (headers and body), as undici's own errors are named. */
export class RequestTimeoutError extends Error {
  readonly code = 'UND_ERR_REQUEST_TIMEOUT';
  constructor(timeoutMs: number) {
    super(`no complete response within ${timeoutMs} ms`);
    this.name = 'RequestTimeoutError';
  }
}

/**
 * POSTs to sync endpoints with undici: one keep-alive pool per origin, explicit connect,
 * headers and body timeouts, no redirects, and (unless allowed) no private addresses — checked
 * when connecting, so DNS changes after the endpoint was saved are caught too.
 *
 * Per request it costs no URL parsing (`endpoint` once per configuration), no AbortSignal, no
 * response stream and no timer of its own in the common case: the request goes to undici's
 * `dispatch` with a handler (`Exchange`) that takes the status, the two headers it needs and the
 * first RESPONSE_EXCERPT_BYTES of the body as they arrive, reading (and discarding) up to
 * RESPONSE_DRAIN_LIMIT_BYTES so the connection can be reused. undici's headers timeout bounds
 * the wait for the answer; a body still incomplete at the end of the event-loop turn its headers
 * came in gets a timer for what is left of the request's budget (a small answer's body comes
 * with its headers, and needs none).
 */
export class HttpSender {
  private readonly pools = new Map<string, Pool>();
  /** Exchanges whose body was still coming at the end of the turn their headers came in. */
  private bodiesComing: Exchange[] = [];
  private bodyCheckScheduled = false;

  constructor(private readonly options: HttpSenderOptions) {}

  private poolFor(origin: string, timeoutMs: number): Pool {
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.options.connectionsPerOrigin,
        connectTimeout: Math.min(timeoutMs, 10_000),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        keepAliveTimeout: 30_000,
        connect: this.options.allowPrivateEndpoints ? {} : { lookup: guardedLookup as never },
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /** Parses and checks an endpoint URL; keep the result while the URL stays the same. */
  endpoint(endpointUrl: string): Endpoint {
    try {
      const url = new URL(endpointUrl);
      if (!this.options.allowPrivateEndpoints && literalHostBlocked(url.hostname)) {
        throw new PrivateEndpointError(url.hostname, url.hostname);
      }
      return { url: endpointUrl, origin: url.origin, path: `${url.pathname}${url.search}` };
    } catch (problem) {
      return { url: endpointUrl, origin: '', path: '', problem };
    }
  }

  /** One request to a URL parsed now (the config service's test payload); delivery uses sendTo. */
  send(endpointUrl: string, request: MovableInkRequest, timeoutMs: number): Promise<SendResult> {
    return this.sendTo(this.endpoint(endpointUrl), request, timeoutMs);
  }

  /** One request, answered or failed within about `timeoutMs` (connect, headers, body). Never rejects. */
  sendTo(endpoint: Endpoint, request: MovableInkRequest, timeoutMs: number): Promise<SendResult> {
    if (endpoint.problem !== undefined) {
      const error = endpoint.problem;
      return Promise.resolve({ error, latencyMs: 0, responseExcerpt: String((error as Error)?.message ?? error) });
    }
    return new Promise<SendResult>((resolve) => {
      const exchange = new Exchange(this, timeoutMs, resolve);
      try {
        this.poolFor(endpoint.origin, timeoutMs).dispatch(
          {
            method: request.method,
            path: endpoint.path,
            headers: request.headers,
            body: request.body,
            headersTimeout: timeoutMs,
            bodyTimeout: timeoutMs,
          },
          exchange,
        );
      } catch (error) {
        exchange.onError(error);
      }
    });
  }

  /** Called by an exchange whose headers came: its body gets a timer if still coming after this turn. */
  watchBody(exchange: Exchange): void {
    this.bodiesComing.push(exchange);
    if (this.bodyCheckScheduled) return;
    this.bodyCheckScheduled = true;
    setImmediate(this.checkBodies);
  }

  private readonly checkBodies = (): void => {
    this.bodyCheckScheduled = false;
    const coming = this.bodiesComing;
    this.bodiesComing = [];
    for (const exchange of coming) exchange.armBodyTimer();
  };

  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((p) => p.close()));
    this.pools.clear();
  }
}

/**
 * One request and its answer, as an undici dispatch handler: the status, `retry-after` and
 * `x-request-id`, and the body's first RESPONSE_EXCERPT_BYTES; the rest of the body is read and
 * thrown away up to RESPONSE_DRAIN_LIMIT_BYTES, past which the connection is closed (the excerpt
 * kept). Resolves once: answered, failed, or out of time (then the connection is closed).
 */
class Exchange {
  private readonly started = performance.now();
  private abortRequest: ((reason?: Error) => void) | undefined;
  private status: number | undefined;
  private retryAfter: string | undefined;
  private requestId: string | undefined;
  private first: Buffer | undefined;
  private more: Buffer[] | undefined;
  private kept = 0;
  private read = 0;
  private settled = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sender: HttpSender,
    private readonly timeoutMs: number,
    private readonly resolve: (result: SendResult) => void,
  ) {}

  onConnect(abort: (reason?: Error) => void): void {
    this.abortRequest = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[] | string[] | null): boolean {
    // 1xx (100 Continue, 103 Early Hints): not the answer.
    if (statusCode < 200) return true;
    this.status = statusCode;
    if (rawHeaders) {
      for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
        const name = rawHeaders[i]!;
        // Only two names matter; most headers are skipped by their length.
        if (name.length === 11 && this.retryAfter === undefined && lower(name) === 'retry-after') this.retryAfter = String(rawHeaders[i + 1]);
        else if (name.length === 12 && this.requestId === undefined && lower(name) === 'x-request-id') this.requestId = String(rawHeaders[i + 1]);
      }
    }
    this.sender.watchBody(this);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.settled) return true;
    this.read += chunk.length;
    if (this.kept < RESPONSE_EXCERPT_BYTES) {
      if (this.first) (this.more ??= []).push(chunk);
      else this.first = chunk;
      this.kept += chunk.length;
    }
    if (this.read > RESPONSE_DRAIN_LIMIT_BYTES) {
      // Not worth reading to its end: the answer is what came, the connection is closed.
      this.answer();
      this.abortRequest?.(new Error('response body past the drain limit'));
    }
    return true;
  }

  onComplete(): void {
    this.answer();
  }

  onError(error: unknown): void {
    if (this.settled) return;
    this.settle({ error, latencyMs: Math.round(performance.now() - this.started), responseExcerpt: describeError(error) });
  }

  /** At the end of the turn the headers came in: a body still coming must end within the budget. */
  armBodyTimer(): void {
    if (this.settled) return;
    const left = Math.max(1, this.timeoutMs - (performance.now() - this.started));
    this.timer = setTimeout(() => {
      if (this.settled) return;
      const error = new RequestTimeoutError(this.timeoutMs);
      this.onError(error);
      this.abortRequest?.(error);
    }, left);
  }

  private answer(): void {
    if (this.settled) return;
    const result: SendResult = { status: this.status!, latencyMs: Math.round(performance.now() - this.started), responseExcerpt: this.excerpt() };
    if (this.retryAfter !== undefined) result.retryAfter = this.retryAfter;
    if (this.requestId !== undefined) result.requestId = this.requestId;
    this.settle(result);
  }

  private excerpt(): string {
    const first = this.first;
    if (!first) return '';
    const all = this.more ? Buffer.concat([first, ...this.more]) : first;
    return all.subarray(0, RESPONSE_EXCERPT_BYTES).toString('utf8');
  }

  private settle(result: SendResult): void {
    this.settled = true;
    if (this.timer) clearTimeout(this.timer);
    this.first = this.more = undefined;
    this.resolve(result);
  }
}

function lower(name: Buffer | string): string {
  return (typeof name === 'string' ? name : name.toString('latin1')).toLowerCase();
}

function describeError(error: unknown): string {
  const e = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  const message = e.message ?? String(error);
  return code ? `${code}: ${message}` : message;
}
