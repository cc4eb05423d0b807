import { describe, expect, it } from 'vitest';
import { decide } from './retry-policy.js';

const HOUR = 3_600_000;
const fresh = { attempts: 1, firstAttemptAt: 0 };
const half = () => 0.5;

describe('decide', () => {
  it.each([
    ['2xx acks', { kind: 'delivered' }, fresh, { action: 'ack' }],
    ['other 4xx dead-letters', { kind: 'rejected' }, fresh, { action: 'dead-letter', reason: 'rejected' }],
    ['413 single dead-letters', { kind: 'too-large' }, fresh, { action: 'dead-letter', reason: 'too large' }],
    ['5xx retries with backoff', { kind: 'retry' }, fresh, { action: 'retry', delayMs: 12_500, countsAttempt: true }],
    ['5xx honours Retry-After', { kind: 'retry', retryAfterMs: 3_000 }, fresh, { action: 'retry', delayMs: 3_000, countsAttempt: true }],
    ['429 with Retry-After does not count', { kind: 'throttled', retryAfterMs: 7_000 }, fresh, { action: 'retry', delayMs: 7_000, countsAttempt: false }],
    ['429 without Retry-After backs off', { kind: 'throttled' }, fresh, { action: 'retry', delayMs: 750, countsAttempt: false }],
    ['401 holds and probes', { kind: 'failing' }, { attempts: 9, firstAttemptAt: 0 }, { action: 'retry', delayMs: 30_000, countsAttempt: true }],
    ['past the window expires', { kind: 'retry' }, { attempts: 3, firstAttemptAt: -4 * HOUR }, { action: 'dead-letter', reason: 'expired' }],
    ['429 past the window expires too', { kind: 'throttled' }, { attempts: 3, firstAttemptAt: -4 * HOUR }, { action: 'dead-letter', reason: 'expired' }],
    ['the last retry lands at the window end', { kind: 'retry' }, { attempts: 12, firstAttemptAt: -4 * HOUR + 1_000 }, { action: 'retry', delayMs: 1_000, countsAttempt: true }],
  ] as const)('%s', (_name, verdict, state, expected) => {
    expect(decide(verdict, state, 4 * HOUR, 0, half)).toEqual(expected);
  });

  it('backoff grows with attempts and is capped', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8, 20].map((attempts) => {
      const d = decide({ kind: 'retry' }, { attempts, firstAttemptAt: 0 }, 100 * HOUR, 0, () => 1);
      return d.action === 'retry' ? d.delayMs : -1;
    });
    expect(delays).toEqual([20_000, 40_000, 80_000, 160_000, 320_000, 600_000, 600_000, 600_000, 600_000]);
  });
});
