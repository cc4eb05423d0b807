import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  at: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: unknown;
  /** What the stand-in answered (undefined for resets and hangs). */
  status?: number;
}

export interface StandInResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Destroy the socket instead of answering (connection reset). */
  reset?: boolean;
  /** Never answer (the client times out). */
  hang?: boolean;
}

export type Responder = (request: RecordedRequest, index: number) => StandInResponse;

export interface StandInOptions {
  /** Keep every request in `requests` (default true). Benchmarks turn it off and count instead. */
  record?: boolean;
  /** Called with each payload of a 2xx answer (batches flattened) and the time it arrived. */
  onPayload?: (payload: Record<string, unknown>, at: number) => void;
}

/**
 * A programmable stand-in for a Movable Ink Customer Data Endpoint: records every request and
 * answers what the test says (by default 200 `{}`).
 */
export class MovableInkStandIn {
  readonly requests: RecordedRequest[] = [];
  /** Requests answered so far (also when not recording). */
  count = 0;
  private responder: Responder = () => ({ status: 200, body: '{}' });
  private server: Server | undefined;
  private readonly sockets = new Set<import('node:net').Socket>();

  constructor(private readonly options: StandInOptions = {}) {}

  respondWith(responder: Responder): void {
    this.responder = responder;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        const recorded: RecordedRequest = { at: Date.now(), method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json };
        const index = this.count++;
        if (this.options.record !== false) this.requests.push(recorded);
        const answer = this.responder(recorded, index);
        const onPayload = this.options.onPayload;
        if (onPayload && answer.status >= 200 && answer.status < 300 && !answer.reset && !answer.hang) {
          const events = (json as { events?: unknown[] } | undefined)?.events;
          for (const p of Array.isArray(events) ? events : json ? [json] : []) onPayload(p as Record<string, unknown>, recorded.at);
        }
        if (answer.hang) return;
        const reply = () => {
          if (answer.reset) {
            req.socket.destroy();
            return;
          }
          recorded.status = answer.status;
          res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
          res.end(answer.body ?? '{}');
        };
        if (answer.delayMs) setTimeout(reply, answer.delayMs);
        else reply();
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Payloads accepted (answered 2xx), flattening `{"events":[…]}` batches. */
  payloads(): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const r of this.requests) {
      if (r.status === undefined || r.status < 200 || r.status >= 300) continue;
      const json = r.json as { events?: unknown[] } | undefined;
      if (json && Array.isArray(json.events)) out.push(...(json.events as Array<Record<string, unknown>>));
      else if (json) out.push(json as Record<string, unknown>);
    }
    return out;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
