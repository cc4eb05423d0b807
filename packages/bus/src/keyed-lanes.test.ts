import { describe, expect, it } from 'vitest';
import { KeyedLanes } from './keyed-lanes.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('KeyedLanes', () => {
  it('runs one key’s tasks in order and other keys alongside, and forgets empty lanes', async () => {
    const lanes = new KeyedLanes();
    const log: string[] = [];
    const task = (name: string, waits: number) => async () => {
      log.push(`start ${name}`);
      for (let i = 0; i < waits; i++) await tick();
      log.push(`end ${name}`);
    };
    const all = [lanes.run('a', task('a1', 3)), lanes.run('a', task('a2', 0)), lanes.run('b', task('b1', 1))];
    // A free lane starts at once; a busy one waits for its tail.
    expect(log).toEqual(['start a1', 'start b1']);
    expect(lanes.size).toBe(2);
    await Promise.all(all);
    expect(log.indexOf('end a1')).toBeLessThan(log.indexOf('start a2'));
    expect(log.indexOf('end b1')).toBeLessThan(log.indexOf('end a1'));
    await tick();
    expect(lanes.size).toBe(0);
  });

  it('goes on after a task that rejects or throws, and hands the error to its caller', async () => {
    const lanes = new KeyedLanes();
    const ran: number[] = [];
    const failing = lanes.run('a', async () => {
      ran.push(1);
      throw new Error('boom');
    });
    const throwing = lanes.run('a', (() => {
      ran.push(2);
      throw new Error('sync boom');
    }) as () => Promise<void>);
    const next = lanes.run('a', async () => {
      ran.push(3);
    });
    await expect(failing).rejects.toThrow('boom');
    await expect(throwing).rejects.toThrow('sync boom');
    await next;
    expect(ran).toEqual([1, 2, 3]);
    const first = lanes.run('b', (() => {
      throw new Error('at once');
    }) as () => Promise<void>);
    await expect(first).rejects.toThrow('at once');
    await tick();
    expect(lanes.size).toBe(0);
  });

  it('hold: lanes given one promise are busy until it settles, then forgotten; a lane taken over since stays', async () => {
    const lanes = new KeyedLanes();
    expect(lanes.tail('a')).toBeUndefined();
    let settle!: () => void;
    const done = new Promise<void>((resolve) => (settle = resolve));
    lanes.hold([{ lane: 'a' }, { lane: 'b' }], done);
    expect(lanes.tail('a')).toBe(done);
    expect(lanes.tail('b')).toBe(done);
    const log: string[] = [];
    // A task run on a held lane waits for the hold; `b` is taken over by a later hold meanwhile.
    const a2 = lanes.run('a', async () => {
      log.push('a2');
    });
    const later = Promise.resolve();
    lanes.hold([{ lane: 'b' }], later);
    await tick();
    expect(log).toEqual([]);
    settle();
    await a2;
    expect(log).toEqual(['a2']);
    await tick();
    expect(lanes.tail('a')).toBeUndefined();
    expect(lanes.size).toBe(0);
  });
});

const tick0 = () => new Promise((r) => setTimeout(r, 0));

describe('KeyedLanes, gated tasks', () => {
  it('runs a key’s tasks in order, one at a time, and other keys alongside', async () => {
    const lanes = new KeyedLanes();
    const log: string[] = [];
    const gates = new Map<string, () => void>();
    const task = (name: string) => () =>
      new Promise<void>((resolve) => {
        log.push(`start ${name}`);
        gates.set(name, () => {
          log.push(`end ${name}`);
          resolve();
        });
      });
    const all = [lanes.run('u1', task('a1')), lanes.run('u2', task('b1')), lanes.run('u1', task('a2')), lanes.run('u1', task('a3'))];
    // A key with nothing running starts at once; the others wait for their turn.
    expect(log).toEqual(['start a1', 'start b1']);
    expect(lanes.size).toBe(2);
    gates.get('a1')!();
    await tick0();
    expect(log).toEqual(['start a1', 'start b1', 'end a1', 'start a2']);
    gates.get('a2')!();
    await tick0();
    gates.get('a3')!();
    gates.get('b1')!();
    await Promise.all(all);
    await tick0();
    expect(log.filter((l) => / a\d/.test(l))).toEqual(['start a1', 'end a1', 'start a2', 'end a2', 'start a3', 'end a3']);
    expect(lanes.size).toBe(0);
  });

  it('goes on with a key’s next task after one failed (thrown or rejected)', async () => {
    const lanes = new KeyedLanes();
    const ran: number[] = [];
    const failed = lanes.run('u', () => {
      throw new Error('sync');
    });
    const rejected = lanes.run('u', async () => {
      ran.push(2);
      throw new Error('async');
    });
    const fine = lanes.run('u', async () => {
      ran.push(3);
    });
    await expect(failed).rejects.toThrow('sync');
    await expect(rejected).rejects.toThrow('async');
    await fine;
    expect(ran).toEqual([2, 3]);
    await tick0();
    expect(lanes.size).toBe(0);
  });
});
