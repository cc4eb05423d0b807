import { describe, expect, it } from 'vitest';
import { AimdConcurrency } from './aimd.js';

describe('AimdConcurrency', () => {
  it('halves on 429 down to 1, then adds one per healthy interval up to the max', () => {
    const c = new AimdConcurrency(16, 1000);
    expect(c.limit).toBe(16);
    expect(c.onThrottled(0)).toBe(8);
    expect(c.onThrottled(10)).toBe(4);
    expect(c.onThrottled(20)).toBe(2);
    expect(c.onThrottled(30)).toBe(1);
    expect(c.onThrottled(40)).toBe(1);
    expect(c.onSuccess(500)).toBe(1);
    expect(c.onSuccess(1040)).toBe(2);
    expect(c.onSuccess(1500)).toBe(2);
    let t = 2040;
    for (let i = 0; i < 30; i++, t += 1000) c.onSuccess(t);
    expect(c.limit).toBe(16);
  });

  it('decreases at most once per round trip: 429s to requests sent before the last decrease do not count', () => {
    const c = new AimdConcurrency(16, 1000);
    // 16 requests sent at t=0..15, all answered 429 at t=100..115.
    const limits = Array.from({ length: 16 }, (_, i) => c.onThrottled(100 + i, i));
    expect(limits.every((l) => l === 8)).toBe(true);
    // A request sent after the decrease and throttled again halves once more.
    expect(c.onThrottled(300, 150)).toBe(4);
    expect(c.onThrottled(310, 120)).toBe(4);
  });

  it('follows a lowered maximum', () => {
    const c = new AimdConcurrency(16);
    c.setMax(4);
    expect(c.limit).toBe(4);
  });
});
