import { describe, expect, it } from 'vitest';
import { UserLanes } from './user-lanes.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('UserLanes', () => {
  it('runs one key’s tasks in order and other keys alongside, and forgets empty lanes', async () => {
    const lanes = new UserLanes();
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
    const lanes = new UserLanes();
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
    const lanes = new UserLanes();
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
