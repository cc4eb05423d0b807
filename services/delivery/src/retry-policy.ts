import type { ResponseClass } from '@inkstream/movable-ink';
import { DEFAULT_DURABLE_BACKOFF, durableRetryDelayMs, type DurableBackoff } from './backoff.js';

/** What to do with a payload after its attempt(s). */
export type Decision =
  | { action: 'ack' }
  | { action: 'retry'; delayMs: number; countsAttempt: boolean }
  | { action: 'dead-letter'; reason: 'rejected' | 'expired' | 'too large' };

export interface RetryState {
  /** Attempts that count toward the backoff (429s do not). */
  attempts: number;
  /** Epoch ms of the first attempt (or of the payload's arrival when never attempted). */
  firstAttemptAt: number;
}

/** How often a `failing` sync (401/403/404) probes its endpoint again, at most. */
export const FAILING_PROBE_MS = 30_000;

/**
 * The delivery policy of spec/pipeline.md as one pure function of the verdict, the payload's
 * retry state and the sync's retry window.
 */
export function decide(
  verdict: ResponseClass,
  state: RetryState,
  retryWindowMs: number,
  now: number,
  random: () => number = Math.random,
  backoff: DurableBackoff = DEFAULT_DURABLE_BACKOFF,
): Decision {
  switch (verdict.kind) {
    case 'delivered':
      return { action: 'ack' };
    case 'rejected':
      return { action: 'dead-letter', reason: 'rejected' };
    case 'too-large':
      return { action: 'dead-letter', reason: 'too large' };
    default:
      break;
  }
  const elapsed = now - state.firstAttemptAt;
  if (elapsed >= retryWindowMs) return { action: 'dead-letter', reason: 'expired' };
  let delayMs: number;
  let countsAttempt = true;
  if (verdict.kind === 'throttled') {
    countsAttempt = false;
    const throttleBackoff = { baseMs: Math.max(1, backoff.baseMs / 10), capMs: Math.max(1, backoff.capMs / 10) };
    delayMs = verdict.retryAfterMs ?? durableRetryDelayMs(Math.max(1, state.attempts), throttleBackoff, random);
  } else if (verdict.kind === 'failing') {
    delayMs = Math.min(FAILING_PROBE_MS, durableRetryDelayMs(state.attempts + 1, backoff, random));
  } else {
    delayMs = verdict.retryAfterMs ?? durableRetryDelayMs(state.attempts + 1, backoff, random);
  }
  // The last retry lands at the end of the window rather than past it.
  const remaining = retryWindowMs - elapsed;
  return { action: 'retry', delayMs: Math.max(1, Math.min(delayMs, remaining)), countsAttempt };
}
