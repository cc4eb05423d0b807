import { describe, expect, it } from 'vitest';
import { decide, throttleDelayMs } from './retry-policy.js';

const HOUR = 3_600_000;
const fresh = { attempts: 1, firstAttemptAt: 0 };
const half = () => 0.5;

describe('decide', () => {
  it.each([
    ['2xx acks', { kind: 'delivered' }, fresh, 1, { action: 'ack' }],
    ['other 4xx dead-letters', { kind: 'rejected' }, fresh, 1, { action: 'dead-letter', reason: 'rejected' }],
    ['413 on a single payload discards it', { kind: 'too-large' }, fresh, 1, { action: 'discard', reason: 'too large' }],
    ['5xx retries with backoff', { kind: 'retry' }, fresh, 1, { action: 'retry', delayMs: 7_500, countsAttempt: true }],
    ['5xx honours Retry-After', { kind: 'retry', retryAfterMs: 3_000 }, fresh, 1, { action: 'retry', delayMs: 3_000, countsAttempt: true }],
    ['5xx with Retry-After: 0 backs off instead', { kind: 'retry', retryAfterMs: 0 }, fresh, 1, { action: 'retry', delayMs: 7_500, countsAttempt: true }],
    ['429 with Retry-After does not count', { kind: 'throttled', retryAfterMs: 7_000 }, fresh, 1, { action: 'retry', delayMs: 7_000, countsAttempt: false }],
    ['429 without Retry-After backs off', { kind: 'throttled' }, fresh, 1, { action: 'retry', delayMs: 750, countsAttempt: false }],
    ['429 with Retry-After: 0 backs off, never loops', { kind: 'throttled', retryAfterMs: 0 }, fresh, 1, { action: 'retry', delayMs: 750, countsAttempt: false }],
    ['429 backoff grows with the streak', { kind: 'throttled' }, fresh, 4, { action: 'retry', delayMs: 4_250, countsAttempt: false }],
    ['429 Retry-After is capped by the retry window', { kind: 'throttled', retryAfterMs: 3_000_000 }, { attempts: 0, firstAttemptAt: -3.5 * HOUR }, 1, { action: 'retry', delayMs: 0.5 * HOUR, countsAttempt: false }],
    ['401 waits at the sync’s probe gate, not on its own', { kind: 'failing' }, { attempts: 9, firstAttemptAt: 0 }, 1, { action: 'retry', delayMs: 1, countsAttempt: true }],
    ['past the window expires', { kind: 'retry' }, { attempts: 3, firstAttemptAt: -4 * HOUR }, 1, { action: 'dead-letter', reason: 'expired' }],
    ['429 past the window expires too', { kind: 'throttled' }, { attempts: 3, firstAttemptAt: -4 * HOUR }, 1, { action: 'dead-letter', reason: 'expired' }],
    ['the last retry lands at the window end', { kind: 'retry' }, { attempts: 12, firstAttemptAt: -4 * HOUR + 1_000 }, 1, { action: 'retry', delayMs: 1_000, countsAttempt: true }],
  ] as const)('%s', (_name, verdict, state, streak, expected) => {
    expect(decide(verdict, state, 4 * HOUR, 0, half, undefined, streak)).toEqual(expected);
  });

  it('backoff grows with attempts and is capped', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8, 20].map((attempts) => {
      const d = decide({ kind: 'retry' }, { attempts, firstAttemptAt: 0 }, 100 * HOUR, 0, () => 1);
      return d.action === 'retry' ? d.delayMs : -1;
    });
    // Attempts 1–3 are the quick tries of the first transmission; each durable retry is one more.
    expect(delays).toEqual([10_000, 10_000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 600_000]);
  });

  it('429 backoff without Retry-After doubles per 429 in a row up to a minute', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 10].map((streak) => throttleDelayMs(undefined, streak, () => 1))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000,
    ]);
  });
});
