import type { Readable } from 'node:stream';
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
 * Per request it costs no URL parsing (`endpoint` once per configuration) and no AbortSignal:
 * undici's headers timeout bounds the wait for the answer (from the time left of the request's
 * budget), one timer bounds the body, and the body is read with stream events up to
 * RESPONSE_DRAIN_LIMIT_BYTES (the first RESPONSE_EXCERPT_BYTES kept).
 */
export class HttpSender {
  private readonly pools = new Map<string, Pool>();

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

  /** One request, answered or failed within about `timeoutMs` (connect, headers, body). */
  async sendTo(endpoint: Endpoint, request: MovableInkRequest, timeoutMs: number): Promise<SendResult> {
    const started = performance.now();
    if (endpoint.problem !== undefined) {
      const error = endpoint.problem;
      return { error, latencyMs: 0, responseExcerpt: String((error as Error)?.message ?? error) };
    }
    try {
      const response = await this.poolFor(endpoint.origin, timeoutMs).request({
        method: request.method,
        path: endpoint.path,
        headers: request.headers,
        body: request.body,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const left = timeoutMs - (performance.now() - started);
      const excerpt = await readExcerpt(response.body, Math.max(1, left), timeoutMs);
      const retryAfter = header(response.headers['retry-after']);
      const requestId = header(response.headers['x-request-id']);
      return {
        status: response.statusCode,
        latencyMs: Math.round(performance.now() - started),
        responseExcerpt: excerpt,
        ...(retryAfter !== undefined ? { retryAfter } : {}),
        ...(requestId !== undefined ? { requestId } : {}),
      };
    } catch (error) {
      return { error, latencyMs: Math.round(performance.now() - started), responseExcerpt: describeError(error) };
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((p) => p.close()));
    this.pools.clear();
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The first RESPONSE_EXCERPT_BYTES of a body, reading (and discarding) the rest up to
 * RESPONSE_DRAIN_LIMIT_BYTES so the connection can be reused; a longer body is cut off (its
 * connection closed, the excerpt kept). Rejects when the body fails or is not complete within
 * `withinMs` (then the connection is closed).
 */
export function readExcerpt(body: Readable, withinMs: number, timeoutMs = withinMs): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    let kept = 0;
    let read = 0;
    let settled = false;
    const excerpt = (): string => {
      if (!first) return '';
      const all = more ? Buffer.concat([first, ...more]) : first;
      return all.subarray(0, RESPONSE_EXCERPT_BYTES).toString('utf8');
    };
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
      if (error !== undefined) {
        // Nobody listens any more: a late error of the destroyed body must not go unhandled.
        body.on('error', () => undefined);
        reject(error);
      } else resolve(excerpt());
    };
    const onData = (chunk: Buffer) => {
      read += chunk.length;
      if (kept < RESPONSE_EXCERPT_BYTES) {
        if (first) (more ??= []).push(chunk);
        else first = chunk;
        kept += chunk.length;
      }
      if (read > RESPONSE_DRAIN_LIMIT_BYTES) {
        finish();
        body.on('error', () => undefined);
        body.destroy();
      }
    };
    const onEnd = () => finish();
    const onError = (error: unknown) => finish(error);
    // Closed without 'end' or 'error' (destroyed elsewhere): what was read is the excerpt.
    const onClose = () => finish();
    const timer = setTimeout(() => {
      const error = new RequestTimeoutError(timeoutMs);
      finish(error);
      body.destroy(error);
    }, withinMs);
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('close', onClose);
  });
}

function describeError(error: unknown): string {
  const e = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  const message = e.message ?? String(error);
  return code ? `${code}: ${message}` : message;
}
