import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KV } from '@nats-io/kv';
import { connectBus, type Bus } from './connection.js';
import { LeaseManager } from './lease-manager.js';
import { leaseVerdict, renewalError } from './lease-policy.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const quiet = { info() {}, warn() {}, error() {} };
const resources = Array.from({ length: 16 }, (_, i) => `p${i}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

describe('lease policy', () => {
  it.each([
    // renewedAt, now, ttl, margin, verdict
    [0, 0, 10_000, 2_500, 'keep'],
    [0, 7_499, 10_000, 2_500, 'keep'],
    [0, 7_500, 10_000, 2_500, 'fence'],
    [1_000, 9_000, 10_000, 2_500, 'fence'],
    [0, 20_000, 10_000, 2_500, 'fence'],
  ] as const)('renewed at %i, now %i, ttl %i, margin %i → %s', (renewedAt, now, ttl, margin, verdict) => {
    expect(leaseVerdict(renewedAt, now, ttl, margin)).toBe(verdict);
  });

  it.each([
    [{ code: 10071, message: 'wrong last sequence: 5' }, 'lost'],
    [new Error('wrong last sequence: 12'), 'lost'],
    [new Error('TIMEOUT'), 'transient'],
    [new Error('closed connection'), 'transient'],
    [{ code: 503, message: 'no responders' }, 'transient'],
  ] as const)('a renewal failing with %o is %s', (err, verdict) => {
    expect(renewalError(err)).toBe(verdict);
  });
});

describe('LeaseManager', () => {
  const bucket = `t_leases_${randomBytes(4).toString('hex')}`;
  let bus: Bus;
  let kv: KV;

  beforeAll(async () => {
    bus = await connectBus({ url: NATS_URL, name: 'lease-test', logger: quiet });
    kv = await bus.kvm.create(bucket, { ttl: 2_000, history: 1 });
  });
  afterAll(async () => {
    await bus.jsm.streams.delete(`KV_${bucket}`).catch(() => undefined);
    await bus.close();
  });

  /** Who works what, across replicas: an overlap is recorded, never allowed silently. */
  class Work {
    readonly by = new Map<string, string>();
    readonly overlaps: string[] = [];
    start(replica: string, r: string) {
      const other = this.by.get(r);
      if (other !== undefined) this.overlaps.push(`${r}: ${replica} started while ${other} works it`);
      this.by.set(r, replica);
    }
    stop(replica: string, r: string) {
      if (this.by.get(r) === replica) this.by.delete(r);
    }
    of(replica: string) {
      return [...this.by].filter(([, who]) => who === replica).map(([r]) => r);
    }
  }

  function manager(replicaId: string, work: Work, opts: { kv?: KV; releaseMs?: number; list?: () => string[] } = {}) {
    return new LeaseManager({
      kv: opts.kv ?? kv,
      replicaId,
      resources: opts.list ?? (() => resources),
      onAcquire: async (r) => work.start(replicaId, r),
      onRelease: async (r) => {
        // Draining takes a while (a sync finishing its requests): work goes on meanwhile.
        if (opts.releaseMs) await sleep(opts.releaseMs);
        work.stop(replicaId, r);
      },
      ttlMs: 2_000,
      renewEveryMs: 200,
      logger: quiet,
    });
  }

  it('shares resources without overlap, hands over on stop, takes over expired leases', async () => {
    const work = new Work();
    const a = manager('a', work);
    await a.start();
    await until(() => work.of('a').length === 16, 'a to take all');

    const b = manager('b', work);
    await b.start();
    await until(() => work.of('a').length === 8 && work.of('b').length === 8, 'an even split');

    await b.stop();
    expect(work.of('b')).toEqual([]);
    await until(() => work.of('a').length === 16, 'a to take everything back');
    await a.stop();
    expect(work.overlaps).toEqual([]);

    // A replica that died holding a lease: nobody renews it, so it expires and is taken over.
    await kv.create('lease.p0', 'dead-replica');
    const c = manager('c', work);
    await c.start();
    expect(work.of('c')).not.toContain('p0');
    await until(() => work.of('c').length === 16, 'the expired lease to be taken over');
    await c.stop();
    expect(work.overlaps).toEqual([]);
  });

  it('keeps renewing its other leases while a slow release drains, so no two replicas work one resource', async () => {
    const work = new Work();
    // Releasing takes 3 s, longer than the 2 s lease lifetime.
    const a = manager('slow-a', work, { releaseMs: 3_000 });
    await a.start();
    await until(() => work.of('slow-a').length === 16, 'a to take all');
    const b = manager('slow-b', work);
    await b.start();
    await until(() => work.of('slow-b').length === 8, 'b to get its share once a has drained', 60_000);
    await sleep(3_000);
    expect(work.of('slow-a').length).toBe(8);
    expect(work.overlaps).toEqual([]);
    await Promise.all([a.stop(), b.stop()]);
    expect(work.overlaps).toEqual([]);
  });

  it('rides out a transient KV error without losing the lease, and stops work before a lease it cannot renew expires', async () => {
    let failing = false;
    const flaky = new Proxy(kv, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (failing && (prop === 'update' || prop === 'put' || prop === 'create' || prop === 'keys')) {
            return Promise.reject(new Error('TIMEOUT'));
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as KV;
    const work = new Work();
    let released = 0;
    const one = () => ['solo'];
    const a = new LeaseManager({
      kv: flaky,
      replicaId: 'flaky-a',
      resources: one,
      onAcquire: async (r) => work.start('flaky-a', r),
      onRelease: async (r) => {
        released++;
        work.stop('flaky-a', r);
      },
      ttlMs: 2_000,
      renewEveryMs: 200,
      logger: quiet,
    });
    await a.start();
    expect(work.of('flaky-a')).toEqual(['solo']);

    // A short outage (two renewals) is not a lost lease.
    failing = true;
    await sleep(450);
    failing = false;
    await sleep(600);
    expect(released).toBe(0);
    expect(work.of('flaky-a')).toEqual(['solo']);

    // A long one: work stops before the lease can expire, then another replica takes it.
    failing = true;
    const b = manager('flaky-b', work, { list: one });
    await b.start();
    await until(() => work.of('flaky-b').length === 1, 'b to take the lease a could not renew', 20_000);
    expect(released).toBe(1);
    expect(work.overlaps).toEqual([]);
    failing = false;
    await Promise.all([a.stop(), b.stop()]);
  });
});
