import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, type Bus } from './connection.js';
import { declareStream, declareStreams, openBucket } from './declare.js';
import { ReplicasError } from './replicas-check.js';
import { createTopology, OWNERS } from './topology.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const quiet = { info() {}, warn() {}, error() {} };
const SECOND = 1_000_000_000;
const DAY = 86_400 * SECOND;

/**
 * Declaring against the real (single, non-clustered) NATS: which service's settings hold, what an
 * upgrade keeps, and the start-up error when more copies are asked for than the server can keep.
 */
describe('declaring streams and buckets', () => {
  const namespaces: string[] = [];
  const ns = () => {
    const n = `t_decl_${randomBytes(4).toString('hex')}`;
    namespaces.push(n);
    return n;
  };
  let bus: Bus;

  beforeAll(async () => {
    bus = await connectBus({ url: NATS_URL, name: 'declare-test', logger: quiet });
  });
  afterAll(async () => {
    for await (const name of bus.jsm.streams.names()) {
      if (namespaces.some((n) => name.startsWith(n.toUpperCase()) || name.startsWith(`KV_${n}-`))) await bus.jsm.streams.delete(name);
    }
    await bus.close();
  });

  const dedupWindow = async (namespace: string) =>
    (await bus.jsm.streams.info(createTopology({ namespace }).streams.ingest.name)).config.duplicate_window;

  it("keeps ingest's dedup window whichever service declares last", async () => {
    // ingest first, then the others with their defaults (the order of a normal start).
    const a = ns();
    await declareStreams(bus.jsm, createTopology({ namespace: a, service: 'ingest', dedupWindowSeconds: 60 }));
    for (const service of ['filter', 'delivery', 'config'] as const) await declareStreams(bus.jsm, createTopology({ namespace: a, service }));
    expect(await dedupWindow(a)).toBe(60 * SECOND);

    // The others first (they create the stream with the default), ingest last.
    const b = ns();
    for (const service of ['filter', 'delivery', 'config'] as const) await declareStreams(bus.jsm, createTopology({ namespace: b, service }));
    expect(await dedupWindow(b)).toBe(600 * SECOND);
    await declareStreams(bus.jsm, createTopology({ namespace: b, service: 'ingest', dedupWindowSeconds: 60 }));
    // A filter replica restarting later does not put the default back.
    const results = await declareStreams(bus.jsm, createTopology({ namespace: b, service: 'filter' }));
    expect(await dedupWindow(b)).toBe(60 * SECOND);
    const ingest = results.find((r) => r.name === createTopology({ namespace: b }).streams.ingest.name)!;
    expect(ingest.kept).toEqual([{ setting: 'duplicate_window', current: 60 * SECOND, declared: 600 * SECOND, why: 'not-owner' }]);
  });

  it("does not tie the delivery stream's dedup window to ingest's setting", async () => {
    const n = ns();
    const ingest = createTopology({ namespace: n, service: 'ingest', dedupWindowSeconds: 60 });
    await declareStreams(bus.jsm, ingest);
    expect((await bus.jsm.streams.info(ingest.streams.delivery.name)).config.duplicate_window).toBe(600 * SECOND);
    expect(OWNERS.streams.delivery).toBe('filter');
  });

  it('never shrinks the retention of an existing stream, and says so', async () => {
    const n = ns();
    const topology = createTopology({ namespace: n, service: 'ingest' });
    // An installation whose ingest stream keeps 30 days (set by hand, or by an older version).
    await bus.jsm.streams.add({ ...topology.streams.ingest, max_age: 30 * DAY });
    await bus.js.publish(topology.subjects.ingest(0), 'kept');
    const warnings: Array<{ obj: object; msg?: string }> = [];
    const logger = { ...quiet, warn: (obj: object, msg?: string) => void warnings.push({ obj, msg }) };
    const [result] = await declareStreams(bus.jsm, topology, { logger });
    const info = await bus.jsm.streams.info(topology.streams.ingest.name);
    expect(info.config.max_age).toBe(30 * DAY);
    expect(info.state.messages).toBe(1);
    expect(result!.kept).toEqual([{ setting: 'max_age', current: 30 * DAY, declared: 7 * DAY, why: 'retention' }]);
    expect(warnings.map((w) => w.msg)).toEqual([expect.stringMatching(/kept the larger existing retention/)]);
  });

  it('refuses more than one copy on a server that is not clustered, naming NATS_REPLICAS, and changes nothing', async () => {
    const n = ns();
    const single = createTopology({ namespace: n });
    await declareStreams(bus.jsm, single);
    const replicated = createTopology({ namespace: n, replicas: 3 });
    // An existing stream (nats-server 2.9 would silently accept num_replicas 3 on an update).
    await expect(declareStreams(bus.jsm, replicated)).rejects.toThrow(ReplicasError);
    await expect(declareStreams(bus.jsm, replicated)).rejects.toThrow(/NATS_REPLICAS is 3, but the NATS server .* is not part of a cluster/);
    expect((await bus.jsm.streams.info(single.streams.ingest.name)).config.num_replicas).toBe(1);
    // A fresh installation: the create is refused.
    const fresh = createTopology({ namespace: ns(), replicas: 3 });
    await expect(declareStream(bus.jsm, fresh.streams.ingest)).rejects.toThrow(/NATS_REPLICAS is 3.*not part of a cluster/);
    await expect(openBucket(bus.kvm, fresh.buckets.config)).rejects.toThrow(/NATS_REPLICAS is 3.*not part of a cluster/);
  });

  it('brings an existing bucket to the declared settings only from its owner', async () => {
    const n = ns();
    // An older installation's lease bucket with a 30 s TTL and history 3.
    await bus.kvm.create(`${n}-filter-leases`, { history: 3, ttl: 30_000 });
    const delivery = createTopology({ namespace: n, service: 'delivery' });
    await openBucket(bus.kvm, delivery.buckets.filterLeases);
    let info = await bus.jsm.streams.info(`KV_${n}-filter-leases`);
    expect(info.config.max_age).toBe(30 * SECOND);
    const filter = createTopology({ namespace: n, service: 'filter' });
    const kv = await openBucket(bus.kvm, filter.buckets.filterLeases);
    info = await bus.jsm.streams.info(`KV_${n}-filter-leases`);
    // The lease lifetime follows the code; history never shrinks by itself.
    expect(info.config.max_age).toBe(10 * SECOND);
    expect(info.config.max_msgs_per_subject).toBe(3);
    await kv.put('k', 'v');
    expect((await kv.get('k'))?.string()).toBe('v');
  });
});
