import { describe, expect, it } from 'vitest';
import { durableRetryDelayMs, quickRetryDelayMs } from './backoff.js';

describe('quick retries', () => {
  it.each([
    [0, 0, 50],
    [0, 1, 100],
    [1, 0, 100],
    [2, 1, 400],
  ])('attempt %i, random %f → %i ms', (attempt, r, expected) => {
    expect(quickRetryDelayMs(attempt, () => r)).toBe(expected);
  });
  it('all quick tries fit in about 4 s', () => {
    expect([0, 1, 2].reduce((sum, a) => sum + quickRetryDelayMs(a, () => 1), 0)).toBeLessThan(4_000);
  });
});

describe('durable retries (full jitter)', () => {
  it.each([
    [1, 1, 10_000],
    [2, 1, 20_000],
    [5, 1, 160_000],
    [10, 1, 600_000],
    [50, 1, 600_000],
    [1, 0, 5_000],
    [10, 0, 5_000],
  ])('retry %i, random %f → %i ms', (retry, r, expected) => {
    expect(durableRetryDelayMs(retry, undefined, () => r)).toBe(expected);
  });
  it('is never zero (no redelivery storms)', () => {
    for (let i = 0; i < 100; i++) expect(durableRetryDelayMs(1 + (i % 12))).toBeGreaterThanOrEqual(5_000);
  });
});
