import { afterEach, describe, expect, it, vi } from 'vitest';
import { WorkGate } from './work-gate.js';

/** A unit of work the test finishes by hand. */
function task() {
  let finish!: () => void;
  let fail!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  let started = 0;
  return {
    work: () => {
      started++;
      return done;
    },
    get started() {
      return started;
    },
    finish,
    fail,
  };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('WorkGate', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs work that fits at once, in the caller’s turn, and settles as the work does', async () => {
    const gate = new WorkGate(100, 60_000);
    const a = task();
    const done = gate.run(40, a.work);
    expect(a.started).toBe(1);
    expect(gate.bytes).toBe(40);
    a.finish();
    await done;
    await turn();
    expect(gate.bytes).toBe(0);
    gate.close();
  });

  it('lets waiting work in first come, first served, as room is given back (a failure gives it back too)', async () => {
    const gate = new WorkGate(100, 60_000);
    const a = task();
    const b = task();
    const c = task();
    const d = task();
    const order: string[] = [];
    const runs = [
      gate.run(60, () => (order.push('a'), a.work())),
      gate.run(60, () => (order.push('b'), b.work())),
      // Fits beside a, but b waits before it.
      gate.run(10, () => (order.push('c'), c.work())),
      gate.run(30, () => (order.push('d'), d.work())),
    ];
    expect(order).toEqual(['a']);
    expect(gate.queued).toBe(3);
    a.fail(new Error('boom'));
    await expect(runs[0]).rejects.toThrow('boom');
    await turn();
    // b (60), c (10) and d (30) fit together.
    expect(order).toEqual(['a', 'b', 'c', 'd']);
    expect(gate.bytes).toBe(100);
    expect(gate.queued).toBe(0);
    b.finish();
    c.finish();
    d.finish();
    await Promise.all(runs.slice(1));
    await turn();
    expect(gate.bytes).toBe(0);
    gate.close();
  });

  it('lets a message larger than the bound in alone', async () => {
    const gate = new WorkGate(100, 60_000);
    const big = task();
    const small = task();
    const first = gate.run(500, big.work);
    expect(big.started).toBe(1);
    const second = gate.run(1, small.work);
    expect(small.started).toBe(0);
    big.finish();
    await first;
    await turn();
    expect(small.started).toBe(1);
    small.finish();
    await second;
    gate.close();
  });

  it('a work that throws at once gives its room back and rejects', async () => {
    const gate = new WorkGate(100, 60_000);
    const after = task();
    const failed = gate.run(100, () => {
      throw new Error('sync');
    });
    const next = gate.run(100, after.work);
    await expect(failed).rejects.toThrow('sync');
    await turn();
    expect(after.started).toBe(1);
    after.finish();
    await next;
    gate.close();
  });

  it('work going on past the hold limit stops counting, so the work waiting behind it starts', async () => {
    vi.useFakeTimers();
    let overdue = 0;
    const gate = new WorkGate(100, 1_000, () => overdue++);
    const stuck = task();
    const next = task();
    const later = task();
    const stuckDone = gate.run(100, stuck.work);
    const nextDone = gate.run(100, next.work);
    vi.advanceTimersByTime(500);
    expect(next.started).toBe(0);
    vi.advanceTimersByTime(1_000);
    expect(next.started).toBe(1);
    expect(overdue).toBe(1);
    expect(gate.bytes).toBe(100);
    // The stuck work finishing later gives nothing back twice.
    stuck.finish();
    await stuckDone;
    expect(gate.bytes).toBe(100);
    const laterDone = gate.run(50, later.work);
    expect(later.started).toBe(0);
    next.finish();
    await nextDone;
    await vi.advanceTimersByTimeAsync(0);
    expect(later.started).toBe(1);
    expect(gate.bytes).toBe(50);
    later.finish();
    await laterDone;
    await vi.advanceTimersByTimeAsync(0);
    expect(gate.bytes).toBe(0);
    gate.close();
  });
});
