import type { DeliveryJob } from '@inkstream/contracts';
import { buildRequest, classifyResponse, type ResponseClass } from '@inkstream/movable-ink';
import { QUICK_TRIES, quickRetryDelayMs } from './backoff.js';
import type { HttpSender, SendResult } from '@inkstream/movable-ink';
import { withHttpAttempt } from '@inkstream/telemetry';
import type { Semaphore } from './semaphore.js';

export interface Target {
  endpointUrl: string;
  authorization: string;
  requestTimeoutMs: number;
}

export interface TryReport {
  job: DeliveryJob;
  result: SendResult;
  verdict: ResponseClass;
  /** 1-based try number within this transmission. */
  tryNumber: number;
}

export interface Transmission {
  job: DeliveryJob;
  verdict: ResponseClass;
  result: SendResult;
  tries: number;
}

/**
 * Sends payloads — one per request, or several in one `{"events":[…]}` request — with the
 * quick in-process tries of the policy (up to 3 within about 4 s for retryable answers), and
 * splits a batch refused with 413 in halves. Every HTTP try is reported for the outcome log,
 * and numbered on its HTTP client span (`inkstream.attempt`: the payload's attempt number; for
 * a batch, the highest among its payloads).
 */
export class Transmitter {
  constructor(
    private readonly sender: HttpSender,
    private readonly semaphore: Semaphore,
    private readonly onTry: (report: TryReport) => void,
    /** Attempts a payload already had in earlier deliveries of its message. */
    private readonly earlierAttempts: (job: DeliveryJob) => number = () => 0,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  async send(jobs: readonly DeliveryJob[], target: () => Target): Promise<Transmission[]> {
    let last: { result: SendResult; verdict: ResponseClass } | undefined;
    let tries = 0;
    const earlier = jobs.reduce((most, job) => Math.max(most, this.earlierAttempts(job)), 0);
    for (let quick = 0; quick < QUICK_TRIES; quick++) {
      const { endpointUrl, authorization, requestTimeoutMs } = target();
      const request = buildRequest(
        jobs.map((j) => j.payload),
        authorization,
      );
      await this.semaphore.acquire();
      let result: SendResult;
      try {
        result = await withHttpAttempt(earlier + tries + 1, () => this.sender.send(endpointUrl, request, requestTimeoutMs));
      } finally {
        this.semaphore.release();
      }
      const verdict = classifyResponse(result);
      tries++;
      last = { result, verdict };
      for (const job of jobs) this.onTry({ job, result, verdict, tryNumber: tries });
      if (verdict.kind === 'too-large' && jobs.length > 1) {
        const middle = Math.ceil(jobs.length / 2);
        const [left, right] = await Promise.all([this.send(jobs.slice(0, middle), target), this.send(jobs.slice(middle), target)]);
        return [...left, ...right].map((t) => ({ ...t, tries: t.tries + tries }));
      }
      const quickRetry =
        (verdict.kind === 'retry' || verdict.kind === 'throttled') &&
        quick < QUICK_TRIES - 1 &&
        (verdict.retryAfterMs === undefined || verdict.retryAfterMs <= 1_000);
      if (!quickRetry) break;
      await this.sleep(verdict.retryAfterMs ?? quickRetryDelayMs(quick));
    }
    return jobs.map((job) => ({ job, verdict: last!.verdict, result: last!.result, tries }));
  }
}
