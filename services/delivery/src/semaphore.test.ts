import { describe, expect, it } from 'vitest';
import { Semaphore } from './semaphore.js';

describe('Semaphore', () => {
  it('admits up to the limit and wakes waiters in order', async () => {
    const s = new Semaphore(2);
    await s.acquire();
    await s.acquire();
    const order: number[] = [];
    const third = s.acquire().then(() => order.push(3));
    const fourth = s.acquire().then(() => order.push(4));
    expect(s.inFlight).toBe(2);
    s.release();
    await third;
    expect(order).toEqual([3]);
    s.release();
    await fourth;
    expect(order).toEqual([3, 4]);
  });

  it('raising the limit wakes waiters, lowering it holds new ones', async () => {
    const s = new Semaphore(1);
    await s.acquire();
    let admitted = false;
    const waiting = s.acquire().then(() => (admitted = true));
    s.setLimit(2);
    await waiting;
    expect(admitted).toBe(true);
    s.setLimit(1);
    s.release();
    let third = false;
    void s.acquire().then(() => (third = true));
    await Promise.resolve();
    expect(third).toBe(false);
    s.release();
    await new Promise((r) => setTimeout(r, 0));
    expect(third).toBe(true);
  });

  it('keeps arrival order through thousands of waiters', async () => {
    const s = new Semaphore(1);
    await s.acquire();
    const order: number[] = [];
    const all = Array.from({ length: 5_000 }, (_, i) => s.acquire().then(() => {
      order.push(i);
      s.release();
    }));
    s.release();
    await Promise.all(all);
    expect(order).toEqual(Array.from({ length: 5_000 }, (_, i) => i));
    expect(s.inFlight).toBe(0);
  });

  it('tryAcquire takes a free permit at once, and never one a waiter is owed', async () => {
    const s = new Semaphore(1);
    expect(s.tryAcquire()).toBe(true);
    expect(s.tryAcquire()).toBe(false);
    let waiter = false;
    const waiting = s.acquire().then(() => (waiter = true));
    s.release();
    // The freed permit went to the waiter, not to whoever asks next.
    expect(s.tryAcquire()).toBe(false);
    await waiting;
    expect(waiter).toBe(true);
    s.release();
    expect(s.tryAcquire()).toBe(true);
    expect(s.inFlight).toBe(1);
  });
});
