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
  /** When the answer was written (undefined for resets and hangs). */
  answeredAt?: number;
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
  /**
   * Which user a payload belongs to, for the in-flight check (`overlaps`): default its
   * `user_id ?? anonymous_id`.
   */
  userOf?: (payload: Record<string, unknown>) => string | undefined;
  /**
   * Benchmarks: called with the `message_id` of each payload of a 2xx answer, read from the body
   * text without parsing it (the top-level `"message_id":"…"` of each payload; a nested key of that
   * name would be counted too). With `record: false` and no `onPayload`, the stand-in then parses
   * nothing and skips the per-user overlap check: a real endpoint's work is not on this machine,
   * so the stand-in should cost the benchmark as little as it can.
   */
  onMessageIds?: (ids: string[], at: number) => void;
}

const MESSAGE_ID_KEY = '"message_id":"';

/** The `message_id` values in a payload body's text (see StandInOptions.onMessageIds). */
export function messageIdsIn(body: string): string[] {
  const ids: string[] = [];
  for (let at = body.indexOf(MESSAGE_ID_KEY); at >= 0; at = body.indexOf(MESSAGE_ID_KEY, at)) {
    const start = at + MESSAGE_ID_KEY.length;
    const end = body.indexOf('"', start);
    if (end < 0) break;
    ids.push(body.slice(start, end));
    at = end;
  }
  return ids;
}

/** The payloads of a request body: a single payload or the `events` of an envelope. */
export function payloadsOf(json: unknown): Array<Record<string, unknown>> {
  if (!json || typeof json !== 'object') return [];
  const events = (json as { events?: unknown[] }).events;
  return (Array.isArray(events) ? events : [json]) as Array<Record<string, unknown>>;
}

/**
 * A programmable stand-in for a Movable Ink Customer Data Endpoint: records every request and
 * answers what the test says (by default 200 `{}`).
 */
export class MovableInkStandIn {
  readonly requests: RecordedRequest[] = [];
  /** Requests answered so far (also when not recording). */
  count = 0;
  /**
   * A request that arrived while another request for the same user was still open (not yet
   * answered, reset or given up by the client): inkstream promises at most one per user.
   */
  readonly overlaps: Array<{ user: string; at: number }> = [];
  private readonly openPerUser = new Map<string, number>();
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
        if (this.lean) {
          this.answerLean(body, res);
          return;
        }
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        const recorded: RecordedRequest = { at: Date.now(), method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json };
        const index = this.count++;
        if (this.options.record !== false) this.requests.push(recorded);
        const users = new Set(payloadsOf(json).map((p) => (this.options.userOf ?? defaultUser)(p)).filter((u): u is string => !!u));
        for (const user of users) {
          const open = this.openPerUser.get(user) ?? 0;
          if (open > 0) this.overlaps.push({ user, at: recorded.at });
          this.openPerUser.set(user, open + 1);
        }
        let closed = false;
        const close = () => {
          if (closed) return;
          closed = true;
          for (const user of users) {
            const open = (this.openPerUser.get(user) ?? 1) - 1;
            if (open <= 0) this.openPerUser.delete(user);
            else this.openPerUser.set(user, open);
          }
        };
        res.on('close', close);
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
          recorded.answeredAt = Date.now();
          // The user's next request may come as soon as this answer is out.
          close();
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

  /** Nothing recorded, nothing parsed, no overlap check: only `onMessageIds`. */
  private get lean(): boolean {
    return this.options.record === false && this.options.onPayload === undefined && this.options.onMessageIds !== undefined;
  }

  private answerLean(body: string, res: import('node:http').ServerResponse): void {
    const at = Date.now();
    const index = this.count++;
    const answer = this.responder({ at, method: 'POST', path: '', headers: {}, body, json: undefined }, index);
    if (answer.status >= 200 && answer.status < 300 && !answer.reset && !answer.hang) this.options.onMessageIds!(messageIdsIn(body), at);
    if (answer.hang) return;
    const reply = () => {
      if (answer.reset) {
        res.socket?.destroy();
        return;
      }
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(answer.body ?? '{}');
    };
    if (answer.delayMs) setTimeout(reply, answer.delayMs);
    else reply();
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

  /**
   * Where a user's order was broken, by the rule of spec/pipeline.md: a request carrying a user's
   * payload B arrived before some request carrying an earlier payload A of that user had been
   * answered 2xx (A and B together in one request, A first, is fine; repeats of A after B are
   * duplicates, allowed). `orderOf` gives a payload's user and its position in that user's
   * sequence (undefined: not part of the check); `skipped` names positions that will never be
   * delivered (dead-lettered), which release their successors.
   */
  orderViolations(
    orderOf: (payload: Record<string, unknown>) => { user: string; seq: number } | undefined,
    skipped: (user: string, seq: number) => boolean = () => false,
  ): string[] {
    const deliveredAt = new Map<string, number>();
    const key = (user: string, seq: number) => `${user}\u0000${seq}`;
    for (const r of this.requests) {
      if (r.status === undefined || r.status < 200 || r.status >= 300 || r.answeredAt === undefined) continue;
      for (const p of payloadsOf(r.json)) {
        const o = orderOf(p);
        if (!o) continue;
        const k = key(o.user, o.seq);
        deliveredAt.set(k, Math.min(deliveredAt.get(k) ?? Infinity, r.answeredAt));
      }
    }
    const violations: string[] = [];
    for (const r of this.requests) {
      const inRequest = payloadsOf(r.json).map(orderOf).filter((o): o is { user: string; seq: number } => !!o);
      for (const [i, o] of inRequest.entries()) {
        for (let earlier = 0; earlier < o.seq; earlier++) {
          if (skipped(o.user, earlier)) continue;
          if (inRequest.slice(0, i).some((x) => x.user === o.user && x.seq === earlier)) continue;
          const at = deliveredAt.get(key(o.user, earlier));
          if (at === undefined || at > r.at) {
            violations.push(`${o.user}: #${o.seq} sent at ${r.at} before #${earlier} was delivered (${at ?? 'never'})`);
            break;
          }
        }
      }
    }
    return violations;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

function defaultUser(payload: Record<string, unknown>): string | undefined {
  const id = payload.user_id ?? payload.anonymous_id;
  return typeof id === 'string' ? id : undefined;
}

/** A way a real endpoint misbehaves. */
export type Misbehaviour =
  | '429'
  | '429 Retry-After: 1'
  | '429 Retry-After: 0'
  | '429 Retry-After: date'
  | '500'
  | '503'
  | 'reset'
  | 'hang'
  | 'slow';

/**
 * A responder for storms: each request misbehaves with probability `rate`, in one of `kinds`
 * (picked by a seeded generator, so a run can be repeated), else answers 200. `slow` answers 200
 * after `slowMs`; `hang` never answers (the client's timeout ends it).
 */
export function stormResponder(options: { kinds: readonly Misbehaviour[]; rate: number; seed?: number; slowMs?: number }): Responder {
  let state = options.seed ?? 1;
  const random = () => {
    // mulberry32
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => {
    if (random() >= options.rate) return { status: 200 };
    const kind = options.kinds[Math.floor(random() * options.kinds.length)]!;
    return misbehaviour(kind, options.slowMs ?? 300);
  };
}

export function misbehaviour(kind: Misbehaviour, slowMs = 300): StandInResponse {
  switch (kind) {
    case '429':
      return { status: 429, body: '{"message":"slow down"}' };
    case '429 Retry-After: 1':
      return { status: 429, headers: { 'retry-after': '1' } };
    case '429 Retry-After: 0':
      return { status: 429, headers: { 'retry-after': '0' } };
    case '429 Retry-After: date':
      return { status: 429, headers: { 'retry-after': new Date(Date.now() + 1_000).toUTCString() } };
    case '500':
      return { status: 500, body: '{"message":"internal error"}' };
    case '503':
      return { status: 503, body: '{"message":"unavailable"}' };
    case 'reset':
      return { status: 200, reset: true };
    case 'hang':
      return { status: 200, hang: true };
    case 'slow':
      return { status: 200, delayMs: slowMs };
  }
}
