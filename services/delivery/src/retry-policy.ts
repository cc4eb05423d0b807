import type { ResponseClass } from '@inkstream/movable-ink';
import { DEFAULT_DURABLE_BACKOFF, QUICK_TRIES, durableRetryDelayMs, type DurableBackoff } from './backoff.js';

/** What to do with a payload after its attempt(s). */
export type Decision =
  | { action: 'ack' }
  | { action: 'retry'; delayMs: number; countsAttempt: boolean }
  | { action: 'dead-letter'; reason: 'rejected' | 'expired' }
  /** Never deliverable and not worth keeping (a single payload refused with 413): counted as discarded. */
  | { action: 'discard'; reason: 'too large' };

export interface RetryState {
  /** Attempts that count toward the backoff (429s do not). */
  attempts: number;
  /** Epoch ms of the first attempt (or of the payload's arrival when never attempted). */
  firstAttemptAt: number;
}

/** How often a `failing` sync (401/403/404) probes its endpoint again, at most. */
export const FAILING_PROBE_MS = 30_000;

/**
 * A Retry-After shorter than this is not honoured as such (`Retry-After: 0` would make a tight
 * loop): the throttle backoff applies instead.
 */
export const MIN_RETRY_AFTER_MS = 1_000;

/**
 * Backoff of consecutive 429s without a usable Retry-After: a tenth of the durable backoff
 * (by default 1 s doubling to 1 min, full jitter) — a 429 asks to slow down, not to wait out an
 * outage.
 */
export function throttleBackoffOf(backoff: DurableBackoff = DEFAULT_DURABLE_BACKOFF): DurableBackoff {
  return { baseMs: Math.max(1, Math.round(backoff.baseMs / 10)), capMs: Math.max(1, Math.round(backoff.capMs / 10)) };
}

/**
 * How long a 429 holds the sync: the endpoint's Retry-After when it gave a usable one, else an
 * exponential backoff on the number of 429s in a row (`streak`, 1 for the first).
 */
export function throttleDelayMs(
  retryAfterMs: number | undefined,
  streak: number,
  random: () => number = Math.random,
  backoff: DurableBackoff = throttleBackoffOf(),
): number {
  if (retryAfterMs !== undefined && retryAfterMs >= MIN_RETRY_AFTER_MS) return retryAfterMs;
  return durableRetryDelayMs(Math.max(1, streak), backoff, random);
}

/**
 * The delivery policy of spec/pipeline.md as one pure function of the verdict, the payload's
 * retry state, the sync's retry window and (for 429s) how many 429s the sync got in a row.
 * Every delay ends at the latest when the retry window does.
 */
export function decide(
  verdict: ResponseClass,
  state: RetryState,
  retryWindowMs: number,
  now: number,
  random: () => number = Math.random,
  backoff: DurableBackoff = DEFAULT_DURABLE_BACKOFF,
  throttleStreak = 1,
  payloads = 1,
): Decision {
  switch (verdict.kind) {
    case 'delivered':
      return { action: 'ack' };
    case 'rejected':
      return { action: 'dead-letter', reason: 'rejected' };
    case 'too-large':
      // A batch is split by the transmitter; what is left here was refused on its own.
      if (payloads <= 1) return { action: 'discard', reason: 'too large' };
      return { action: 'dead-letter', reason: 'rejected' };
    default:
      break;
  }
  const elapsed = now - state.firstAttemptAt;
  if (elapsed >= retryWindowMs) return { action: 'dead-letter', reason: 'expired' };
  let delayMs: number;
  let countsAttempt = true;
  if (verdict.kind === 'throttled') {
    countsAttempt = false;
    delayMs = throttleDelayMs(verdict.retryAfterMs, throttleStreak, random, throttleBackoffOf(backoff));
  } else if (verdict.kind === 'failing') {
    // No wait of its own: the sync's gate holds every payload and lets one probe through every
    // FAILING_PROBE_MS (at once after the endpoint or authorization changed).
    delayMs = 0;
  } else {
    const ra = verdict.retryAfterMs;
    // The first transmission makes up to QUICK_TRIES tries; each durable retry makes one.
    const durableRetry = Math.max(1, state.attempts - QUICK_TRIES + 1);
    delayMs = ra !== undefined && ra >= MIN_RETRY_AFTER_MS ? ra : durableRetryDelayMs(durableRetry, backoff, random);
  }
  // The last retry lands at the end of the window rather than past it.
  const remaining = retryWindowMs - elapsed;
  return { action: 'retry', delayMs: Math.max(1, Math.min(delayMs, remaining)), countsAttempt };
}
