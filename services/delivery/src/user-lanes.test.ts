import { describe, expect, it } from 'vitest';
import { UserLanes } from './user-lanes.js';

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('UserLanes', () => {
  it('runs a key’s tasks in order, one at a time, and other keys alongside', async () => {
    const lanes = new UserLanes();
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
    await tick();
    expect(log).toEqual(['start a1', 'start b1', 'end a1', 'start a2']);
    gates.get('a2')!();
    await tick();
    gates.get('a3')!();
    gates.get('b1')!();
    await Promise.all(all);
    await tick();
    expect(log.filter((l) => / a\d/.test(l))).toEqual(['start a1', 'end a1', 'start a2', 'end a2', 'start a3', 'end a3']);
    expect(lanes.size).toBe(0);
  });

  it('goes on with a key’s next task after one failed (thrown or rejected)', async () => {
    const lanes = new UserLanes();
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
    await tick();
    expect(lanes.size).toBe(0);
  });
});
