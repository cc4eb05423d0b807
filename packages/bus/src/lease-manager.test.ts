import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KV } from '@nats-io/kv';
import { connectBus, type Bus } from './connection.js';
import { LeaseManager } from './lease-manager.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const quiet = { info() {}, warn() {}, error() {} };
const resources = Array.from({ length: 16 }, (_, i) => `p${i}`);

async function until(check: () => boolean, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

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

  function manager(replicaId: string, working: Set<string>) {
    return new LeaseManager({
      kv,
      replicaId,
      resources: () => resources,
      onAcquire: async (r) => {
        expect(working.has(r)).toBe(false);
        working.add(r);
      },
      onRelease: async (r) => {
        working.delete(r);
      },
      ttlMs: 2_000,
      renewEveryMs: 200,
      logger: quiet,
    });
  }

  it('shares resources without overlap, hands over on stop, takes over expired leases', async () => {
    const workA = new Set<string>();
    const workB = new Set<string>();
    const a = manager('a', workA);
    await a.start();
    expect(workA.size).toBe(16);

    const b = manager('b', workB);
    await b.start();
    await until(() => workA.size === 8 && workB.size === 8, 'an even split');
    for (const r of workA) expect(workB.has(r)).toBe(false);
    expect(new Set([...workA, ...workB]).size).toBe(16);

    await b.stop();
    expect(workB.size).toBe(0);
    await until(() => workA.size === 16, 'a to take everything back');
    await a.stop();

    // A replica that died holding a lease: nobody renews it, so it expires and is taken over.
    await kv.create('lease.p0', 'dead-replica');
    const workC = new Set<string>();
    const c = manager('c', workC);
    await c.start();
    expect(workC.has('p0')).toBe(false);
    await until(() => workC.has('p0') && workC.size === 16, 'the expired lease to be taken over');
    await c.stop();
  });
});
