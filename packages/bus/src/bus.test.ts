import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncSnapshot } from '@inkstream/contracts';
import { ConfigView } from './config-view.js';
import { connectBus, BusUnavailableError, type Bus } from './connection.js';
import { ConsumerRunner } from './consumer-runner.js';
import { declareConsumer, declareStream, declareStreams, openConfigBucket } from './declare.js';
import { KeyedLanes } from './keyed-lanes.js';
import { partitionOf } from './partition.js';
import { createTopology, PARTITIONS } from './topology.js';
import { encodeJson, decodeJson } from './codec.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const quiet = { info() {}, warn() {}, error() {} };

describe('partitionOf', () => {
  it('is stable and spreads users', () => {
    expect(partitionOf('user-12345')).toBe(partitionOf('user-12345'));
    const seen = new Set(Array.from({ length: 500 }, (_, i) => partitionOf(`user-${i}`)));
    expect(seen.size).toBe(PARTITIONS);
    for (const p of seen) expect(p).toBeGreaterThanOrEqual(0);
  });
});

describe('topology', () => {
  it('refuses namespaces that would break subjects', () => {
    expect(() => createTopology({ namespace: 'a.b' })).toThrow(/namespace/);
    expect(createTopology({ namespace: 'x-1' }).streams.ingest.name).toBe('X_1_INGEST');
  });
});

describe('KeyedLanes', () => {
  it('runs one key in order and keys alongside', async () => {
    const lanes = new KeyedLanes();
    const log: string[] = [];
    const task = (name: string, ms: number) => () => new Promise<void>((r) => setTimeout(() => (log.push(name), r()), ms));
    await Promise.all([lanes.run('a', task('a1', 30)), lanes.run('a', task('a2', 1)), lanes.run('b', task('b1', 5))]);
    expect(log).toEqual(['b1', 'a1', 'a2']);
    expect(lanes.size).toBe(0);
  });
  it('keeps going after a failed task', async () => {
    const lanes = new KeyedLanes();
    await expect(lanes.run('a', async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    let ran = false;
    await lanes.run('a', async () => void (ran = true));
    expect(ran).toBe(true);
  });
});

describe('with a real NATS', () => {
  const topology = createTopology({ namespace: `t_bus_${randomBytes(4).toString('hex')}` });
  let bus: Bus;

  beforeAll(async () => {
    bus = await connectBus({ url: NATS_URL, name: 'bus-test', logger: quiet });
  });
  afterAll(async () => {
    for await (const name of bus.jsm.streams.names()) {
      if (name.startsWith(topology.namespace.toUpperCase()) || name.includes(topology.namespace)) await bus.jsm.streams.delete(name);
    }
    await bus.close();
  });

  it('says clearly when NATS is not there', async () => {
    await expect(connectBus({ url: 'nats://127.0.0.1:1', name: 'x', logger: quiet, connectTimeoutMs: 300 })).rejects.toThrow(BusUnavailableError);
    await expect(connectBus({ url: 'nats://127.0.0.1:1', name: 'x', logger: quiet, connectTimeoutMs: 300 })).rejects.toThrow(/nats-server -js/);
  });

  it('declares streams and consumers idempotently, also when racing', async () => {
    await Promise.all([declareStreams(bus.jsm, topology), declareStreams(bus.jsm, topology), declareStreams(bus.jsm, topology)]);
    const info = await bus.jsm.streams.info(topology.streams.delivery.name);
    expect(info.config.retention).toBe('workqueue');
    expect(info.config.duplicate_window).toBe(600_000_000_000);
    // A changed setting is applied to the existing stream.
    await declareStream(bus.jsm, { ...topology.streams.ingest, duplicate_window: 120_000_000_000 });
    expect((await bus.jsm.streams.info(topology.streams.ingest.name)).config.duplicate_window).toBe(120_000_000_000);
    await declareStream(bus.jsm, topology.streams.ingest);
    const consumer = topology.consumers.filter(3);
    await Promise.all([declareConsumer(bus.jsm, topology.streams.ingest.name, consumer), declareConsumer(bus.jsm, topology.streams.ingest.name, consumer)]);
    await declareConsumer(bus.jsm, topology.streams.ingest.name, { ...consumer, max_ack_pending: 10 });
    expect((await bus.jsm.consumers.info(topology.streams.ingest.name, consumer.durable_name)).config.max_ack_pending).toBe(10);
  });

  it('builds the config view from the bucket and follows changes, ignoring stale versions', async () => {
    const kv = await openConfigBucket(bus.kvm, topology);
    const sync = (version: number, enabled: boolean): SyncSnapshot => ({
      kind: 'sync', id: 's1', projectId: 'p1', name: 'n', enabled, endpointUrl: 'https://x', authorizationSealed: 'v1',
      sendEvents: true, eventFilters: [], eventProperties: [], sendUsers: false, userProperties: [],
      delivery: { batchSize: 1, maxRequestBytes: 1_000_000, maxConcurrency: 1, requestTimeoutMs: 1000, retryWindowSeconds: 60, preserveUserOrder: true },
      version, deleted: false, updatedAt: '',
    });
    await kv.put('projects.p1', JSON.stringify({ kind: 'project', id: 'p1', name: 'p', apiKeyHash: 'h1', version: 1, deleted: false, updatedAt: '' }));
    await kv.put('syncs.s1', JSON.stringify(sync(2, true)));
    const view = new ConfigView(quiet);
    const seen: number[] = [];
    view.onChange((next) => seen.push(next.version));
    await view.start(kv);
    expect(view.projectForKeyHash('h1')?.id).toBe('p1');
    expect(view.activeSyncsOf('p1').map((s) => s.id)).toEqual(['s1']);

    await kv.put('syncs.s1', JSON.stringify(sync(1, false))); // stale: ignored
    await kv.put('syncs.s1', JSON.stringify(sync(3, false)));
    await kv.put('projects.p1', JSON.stringify({ kind: 'project', id: 'p1', name: 'p', apiKeyHash: 'h2', version: 2, deleted: false, updatedAt: '' }));
    const deadline = Date.now() + 10_000;
    while (view.projectForKeyHash('h2') === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(view.projectForKeyHash('h1')).toBeUndefined();
    expect(view.projectForKeyHash('h2')?.id).toBe('p1');
    expect(view.activeSyncsOf('p1')).toEqual([]);
    expect(seen).toEqual([1, 2, 3, 2]);
    view.stop();

    const empty = createTopology({ namespace: `${topology.namespace}-empty` });
    const emptyView = new ConfigView(quiet);
    await emptyView.start(await openConfigBucket(bus.kvm, empty));
    expect(emptyView.counts()).toEqual({ projects: 0, syncs: 0, activeSyncs: 0 });
    emptyView.stop();
  });

  it('consumer runner hands every message over and drains on stop', async () => {
    await declareStreams(bus.jsm, topology);
    const consumer = topology.consumers.filter(7);
    await declareConsumer(bus.jsm, topology.streams.ingest.name, consumer);
    for (let i = 0; i < 50; i++) await bus.js.publish(topology.subjects.ingest(7), encodeJson({ i }));
    const got: number[] = [];
    const runner = new ConsumerRunner({
      js: bus.js,
      stream: topology.streams.ingest.name,
      durable: consumer.durable_name,
      maxMessages: 10,
      logger: quiet,
      onMessage: async (msg) => {
        await new Promise((r) => setTimeout(r, 1));
        got.push(decodeJson<{ i: number }>(msg.data).i);
        msg.ack();
      },
    });
    runner.start();
    const deadline = Date.now() + 20_000;
    while (got.length < 50 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await runner.stop();
    expect([...got].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(runner.pending).toBe(0);
    const info = await bus.jsm.consumers.info(topology.streams.ingest.name, consumer.durable_name);
    expect(info.num_pending + info.num_ack_pending).toBe(0);
  });
});
