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
  it('follows a lowered maximum', () => {
    const c = new AimdConcurrency(16);
    c.setMax(4);
    expect(c.limit).toBe(4);
  });
});
