import { Pool } from 'undici';
import { guardedLookup, literalHostBlocked, PrivateEndpointError } from '@inkstream/endpoint-guard';
import type { AttemptResult } from './classify-response.js';
import type { MovableInkRequest } from './request.js';

export const RESPONSE_EXCERPT_BYTES = 2048;

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
 * POSTs to sync endpoints with undici: one keep-alive pool per origin, explicit connect,
 * headers and body timeouts, no redirects, and (unless allowed) no private addresses — checked
 * when connecting, so DNS changes after the endpoint was saved are caught too.
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

  async send(endpointUrl: string, request: MovableInkRequest, timeoutMs: number): Promise<SendResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let url: URL;
    try {
      url = new URL(endpointUrl);
      if (!this.options.allowPrivateEndpoints && literalHostBlocked(url.hostname)) {
        throw new PrivateEndpointError(url.hostname, url.hostname);
      }
    } catch (error) {
      return { error, latencyMs: elapsed(), responseExcerpt: String((error as Error).message ?? error) };
    }
    try {
      const response = await this.poolFor(url.origin, timeoutMs).request({
        method: request.method,
        path: `${url.pathname}${url.search}`,
        headers: request.headers,
        body: request.body,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const excerpt = await readExcerpt(response.body);
      const retryAfter = header(response.headers['retry-after']);
      const requestId = header(response.headers['x-request-id']);
      return {
        status: response.statusCode,
        latencyMs: elapsed(),
        responseExcerpt: excerpt,
        ...(retryAfter !== undefined ? { retryAfter } : {}),
        ...(requestId !== undefined ? { requestId } : {}),
      };
    } catch (error) {
      return { error, latencyMs: elapsed(), responseExcerpt: describeError(error) };
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

async function readExcerpt(body: AsyncIterable<Buffer> & { dump?: () => Promise<void> }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < RESPONSE_EXCERPT_BYTES) {
      chunks.push(chunk);
      size += chunk.length;
    }
    // Keep reading (and discarding) so the connection can be reused.
  }
  return Buffer.concat(chunks).subarray(0, RESPONSE_EXCERPT_BYTES).toString('utf8');
}

function describeError(error: unknown): string {
  const e = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  const message = e.message ?? String(error);
  return code ? `${code}: ${message}` : message;
}
