import type { DeliveryItem } from '@inkstream/contracts';
import { classifyResponse, requestBody, type Endpoint, type MovableInkRequest, type ResponseClass } from '@inkstream/movable-ink';
import { QUICK_TRIES, quickRetryDelayMs } from './backoff.js';
import type { HttpSender, SendResult } from '@inkstream/movable-ink';
import { withHttpAttempt } from '@inkstream/telemetry';
import type { Semaphore } from './semaphore.js';

/**
 * Where and how a sync's requests go, built once per configuration (endpoint URL,
 * authorization, timeout) and shared by every request until it changes.
 */
export interface Target {
  /** The endpoint URL, parsed and checked once (`HttpSender.endpoint`). */
  endpoint: Endpoint;
  /** The request headers (with the opened authorization), shared by every request. */
  headers: Record<string, string>;
  requestTimeoutMs: number;
}

/** One HTTP try, reported for each payload it carried (the same object for all of them). */
export interface TryReport {
  result: SendResult;
  verdict: ResponseClass;
  /** 1-based try number within this transmission. */
  tryNumber: number;
  /** Epoch ms when the request was sent. */
  sentAt: number;
}

/**
 * What decides whether a request may go now (the sync's send gate). Entered while holding a
 * concurrency permit, right before the request is built, so a request never goes out with stale
 * credentials or after the sync started to fail.
 */
export interface RequestGate {
  /** Resolves when the request may go; `undefined` when the sync is stopping (nothing is sent). */
  enter(): Promise<{ probe: boolean } | undefined>;
  /** The request may go now (no promise needed); null: call `enter`. */
  tryEnter?(): { probe: boolean } | null;
  /** The answer to a request that entered (`result`: what came back, or how it failed). */
  answered(verdict: ResponseClass, probe: boolean, sentAt: number, result: SendResult): void;
  /** A request that entered could not be sent after all. */
  abandoned?(probe: boolean): void;
}

const OPEN: RequestGate = { enter: async () => ({ probe: false }), answered: () => undefined };

export interface SendOptions {
  /** Tries for retryable answers (408, 5xx, network): the quick tries of a first transmission, else 1. */
  tries: number;
  /** The sync batches (`batchSize` > 1): every request is an `{"events":[…]}` envelope. */
  batched: boolean;
  /**
   * The span around the send is recorded (default true): only then is the attempt number put in
   * the context for the HTTP client span, which is not recorded either otherwise.
   */
  recording?: boolean;
}

export interface Transmission {
  job: DeliveryItem;
  /** Epoch ms when the last request of this transmission was sent. */
  sentAt: number;
  verdict: ResponseClass;
  result: SendResult;
  tries: number;
  /** Nothing (more) was sent: the sync stopped while this waited at its gate. */
  aborted?: boolean;
}

/**
 * Sends payloads — one per request, or several in one `{"events":[…]}` request — with the
 * quick in-process tries of the policy (up to 3 within about 4 s for 408/5xx/network errors), and
 * splits a batch refused with 413 in halves. Every HTTP try is reported for the outcome log,
 * and numbered on its HTTP client span (`inkstream.attempt`: the payload's attempt number; for
 * a batch, the highest among its payloads).
 */
export class Transmitter {
  constructor(
    private readonly sender: HttpSender,
    private readonly semaphore: Semaphore,
    private readonly onTry: (job: DeliveryItem, report: TryReport) => void,
    /** Attempts a payload already had in earlier deliveries of its message. */
    private readonly earlierAttempts: (job: DeliveryItem) => number = () => 0,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
    private readonly gate: RequestGate = OPEN,
  ) {}

  /** The request body is made of the payloads' JSON as they came (`payloadJson`), never re-serialized. */
  async send(
    jobs: readonly DeliveryItem[],
    target: () => Target,
    options: SendOptions = { tries: QUICK_TRIES, batched: false },
  ): Promise<Transmission[]> {
    let last: { result: SendResult; verdict: ResponseClass; sentAt: number } | undefined;
    let tries = 0;
    let earlier = 0;
    for (const job of jobs) earlier = Math.max(earlier, this.earlierAttempts(job));
    let body: string;
    if (jobs.length === 1 && !options.batched) body = jobs[0]!.payloadJson;
    else {
      const jsons = new Array<string>(jobs.length);
      for (let i = 0; i < jobs.length; i++) jsons[i] = jobs[i]!.payloadJson;
      body = requestBody(jsons, { batched: options.batched });
    }
    for (let quick = 0; quick < Math.max(1, options.tries); quick++) {
      // A free permit and an open gate (the common case) are taken without waiting on a promise.
      if (!this.semaphore.tryAcquire()) await this.semaphore.acquire();
      let result: SendResult;
      let sentAt: number;
      let probe: boolean;
      try {
        const ticket = this.gate.tryEnter?.() ?? (await this.gate.enter());
        if (!ticket) {
          if (last) break;
          const stopped: SendResult = { latencyMs: 0, responseExcerpt: 'stopped before sending' };
          return jobs.map((job) => ({ job, verdict: { kind: 'retry' as const }, result: stopped, sentAt: Date.now(), tries: 0, aborted: true }));
        }
        probe = ticket.probe;
        let t: Target;
        try {
          t = target();
        } catch (error) {
          // Nothing was sent (the authorization cannot be opened, say): a retry, not an answer.
          this.gate.abandoned?.(probe);
          const failed: SendResult = { error, latencyMs: 0, responseExcerpt: String((error as Error)?.message ?? error) };
          return jobs.map((job) => ({ job, verdict: { kind: 'retry' as const }, result: failed, sentAt: Date.now(), tries }));
        }
        const request: MovableInkRequest = { method: 'POST', headers: t.headers, body };
        sentAt = Date.now();
        result =
          options.recording === false
            ? await this.sender.sendTo(t.endpoint, request, t.requestTimeoutMs)
            : await withHttpAttempt(earlier + tries + 1, () => this.sender.sendTo(t.endpoint, request, t.requestTimeoutMs));
      } finally {
        this.semaphore.release();
      }
      const verdict = classifyResponse(result);
      this.gate.answered(verdict, probe, sentAt, result);
      tries++;
      last = { result, verdict, sentAt };
      const report: TryReport = { result, verdict, tryNumber: tries, sentAt };
      for (const job of jobs) this.onTry(job, report);
      if (verdict.kind === 'too-large' && jobs.length > 1) {
        const middle = Math.ceil(jobs.length / 2);
        const [left, right] = await Promise.all([
          this.send(jobs.slice(0, middle), target, options),
          this.send(jobs.slice(middle), target, options),
        ]);
        return [...left, ...right].map((t) => ({ ...t, tries: t.tries + tries }));
      }
      // Only plain failures are tried again at once; a 429 means slow down (the sync pauses).
      const quickRetry =
        verdict.kind === 'retry' && quick < options.tries - 1 && (verdict.retryAfterMs === undefined || verdict.retryAfterMs <= 1_000);
      if (!quickRetry) break;
      await this.sleep(verdict.retryAfterMs ? verdict.retryAfterMs : quickRetryDelayMs(quick));
    }
    const final = last!;
    return jobs.map((job) => ({ job, verdict: final.verdict, result: final.result, sentAt: final.sentAt, tries }));
  }
}
