import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigView,
  connectBus,
  createTopology,
  declareStreams,
  decodeJson,
  encodeJson,
  partitionOf,
  type Bus,
  type KV,
} from '@inkstream/bus';
import { DEFAULT_DELIVERY_SETTINGS, itemsOfDeliveryMessage, jobOfItem, type DeliveryJob, type IngestedRecord, type SyncSnapshot, type TrackPayload, type DeliveryOutcome, type OutcomeMessage, outcomesIn } from '@inkstream/contracts';
import { createLogger, createMetricsRegistry } from '@inkstream/service-kit';
import { FilterWorker } from './filter-worker.js';
import { createFilterMetrics, type FilterMetrics } from './metrics.js';
import { ProfileStore } from './profile-store.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const logger = createLogger('filter-test', 'silent');

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function syncSnapshot(overrides: Partial<SyncSnapshot>): SyncSnapshot {
  return {
    kind: 'sync',
    id: 'sync-a',
    projectId: 'p1',
    name: 's',
    enabled: true,
    endpointUrl: 'https://example.com',
    authorizationSealed: 'v1.x',
    sendEvents: true,
    eventFilters: [{ eventType: '*' }],
    eventProperties: ['n'],
    sendUsers: false,
    userProperties: ['visits'],
    delivery: DEFAULT_DELIVERY_SETTINGS,
    version: 1,
    deleted: false,
    updatedAt: '',
    ...overrides,
  };
}

describe('filter worker through real NATS', () => {
  const topology = createTopology({ namespace: `t_filter_${randomBytes(4).toString('hex')}` });
  let bus: Bus;
  let profilesKv: KV;
  let leasesKv: KV;
  let config: ConfigView;
  const workers: FilterWorker[] = [];
  let published = 0;

  beforeAll(async () => {
    bus = await connectBus({ url: NATS_URL, name: 'filter-test', logger });
    await declareStreams(bus.jsm, topology);
    profilesKv = await bus.kvm.create(topology.buckets.profiles.name, { history: 1 });
    leasesKv = await bus.kvm.create(topology.buckets.filterLeases.name, { history: 1, ttl: topology.buckets.filterLeases.ttl });
    config = new ConfigView(logger);
    config.apply({ kind: 'project', id: 'p1', name: 'p', apiKeyHash: 'h', version: 1, deleted: false, updatedAt: '' });
    config.apply(syncSnapshot({}));
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  });

  afterAll(async () => {
    for await (const name of bus.jsm.streams.names()) {
      if (name.startsWith(topology.namespace.toUpperCase()) || name.includes(topology.namespace)) await bus.jsm.streams.delete(name);
    }
    await bus.close();
  });

  function worker(id: string, metrics: FilterMetrics = createFilterMetrics(createMetricsRegistry('filter'))) {
    const w = new FilterWorker({
      bus,
      topology,
      config,
      profiles: new ProfileStore(profilesKv, { maxEntries: 1000, maxBytes: 64 * 1024 * 1024 }),
      metrics,
      logger,
      maxInFlight: 64,
      leases: leasesKv,
      replicaId: id,
    });
    workers.push(w);
    return w;
  }

  async function ingest(events: Array<IngestedRecord['event']>, prefix: string): Promise<void> {
    for (const [i, event] of events.entries()) {
      const userKey = (event.user_id ?? event.device_id)!;
      const record: IngestedRecord = { v: 1, kind: 'event', projectId: 'p1', receivedAt: Date.now(), eventKey: `${prefix}-${i}`, userKey, event };
      await bus.js.publish(topology.subjects.ingest(partitionOf(userKey)), encodeJson(record), { msgID: `${prefix}-${i}` });
      published++;
    }
  }

  async function deliveryJobs(): Promise<DeliveryJob[]> {
    const info = await bus.jsm.streams.info(topology.streams.delivery.name);
    const out: DeliveryJob[] = [];
    for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
      const m = await bus.jsm.streams.getMessage(topology.streams.delivery.name, { seq }).catch(() => null);
      if (m) out.push(...itemsOfDeliveryMessage(new TextDecoder().decode(m.data)).map(jobOfItem));
    }
    return out;
  }

  async function ingestFullyAcked(): Promise<boolean> {
    for (let p = 0; p < 16; p++) {
      const info = await bus.jsm.consumers.info(topology.streams.ingest.name, topology.consumers.filter(p).durable_name).catch(() => null);
      if (!info || info.num_pending > 0 || info.num_ack_pending > 0) return false;
    }
    return true;
  }

  const events = (prefix: string, users: number, perUser: number) =>
    Array.from({ length: users * perUser }, (_, i) => ({
      event_type: 'Tick',
      user_id: `${prefix}-user-${i % users}`,
      time: Date.now(),
      event_properties: { n: Math.floor(i / users) },
      user_properties: { $add: { visits: 1 } },
    }));

  it('survives a restart mid-stream: nothing lost, profiles kept, per-user order held', async () => {
    const a = worker('a');
    await a.start();
    const batch = events('restart', 10, 20);
    await ingest(batch.slice(0, 100), 'restart');
    await until(async () => (await deliveryJobs()).filter((j) => j.userKey.startsWith('restart')).length >= 30, 'some jobs');
    await a.stop();
    workers.splice(workers.indexOf(a), 1);
    await ingest(batch.slice(100), 'restart-b');
    const b = worker('b');
    await b.start();
    await until(async () => (await deliveryJobs()).filter((j) => j.userKey.startsWith('restart')).length >= 200, 'all 200 jobs', 90_000);
    await until(ingestFullyAcked, 'ingest fully acked');
    const jobs = (await deliveryJobs()).filter((j) => j.userKey.startsWith('restart'));
    expect(jobs).toHaveLength(200);
    expect(new Set(jobs.map((j) => j.messageId)).size).toBe(200);
    for (let u = 0; u < 10; u++) {
      const mine = jobs.filter((j) => j.userKey === `restart-user-${u}`).map((j) => j.payload);
      expect(mine.map((p) => (p as TrackPayload).properties!.n)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      // The profile counted every event exactly once, across the restart.
      expect(mine.map((p) => (p as TrackPayload).user_properties!.visits)).toEqual(
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
    }
  });

  it('two replicas share the partitions without double work or broken order', async () => {
    const metricsA = createFilterMetrics(createMetricsRegistry('filter'));
    const metricsB = createFilterMetrics(createMetricsRegistry('filter'));
    const a = worker('ra', metricsA);
    const b = worker('rb', metricsB);
    await Promise.all([a.start(), b.start()]);
    await until(() => a.partitions.length === 8 && b.partitions.length === 8, 'an even split');
    expect(a.partitions.filter((p) => b.partitions.includes(p))).toEqual([]);
    await ingest(events('pair', 16, 10), 'pair');
    await until(async () => (await deliveryJobs()).filter((j) => j.userKey.startsWith('pair')).length >= 160, 'all jobs', 90_000);
    await until(ingestFullyAcked, 'ingest fully acked');
    const processed = async (m: FilterMetrics) => (await m.records.get()).values.reduce((s, v) => s + v.value, 0);
    expect((await processed(metricsA)) + (await processed(metricsB))).toBe(160);
    expect(await processed(metricsA)).toBeGreaterThan(0);
    expect(await processed(metricsB)).toBeGreaterThan(0);
    const jobs = (await deliveryJobs()).filter((j) => j.userKey.startsWith('pair'));
    for (let u = 0; u < 16; u++) {
      const ns = jobs.filter((j) => j.userKey === `pair-user-${u}`).map((j) => (j.payload as TrackPayload).properties!.n);
      expect(ns).toEqual(Array.from({ length: 10 }, (_, i) => i));
    }
  });

  it('follows config changes mid-stream: Send Users, sendEvents off, disabled', async () => {
    const w = worker('cfg');
    await w.start();
    const count = async (type: string, prefix: string) =>
      (await deliveryJobs()).filter((j) => j.userKey.startsWith(prefix) && j.payloadType === type).length;

    config.apply(syncSnapshot({ version: 2, sendUsers: true }));
    await ingest([{ event_type: 'Tick', user_id: 'cfg-user-1', user_properties: { visits: 1 } }], 'cfg1');
    await until(async () => (await count('track', 'cfg-user-1')) === 1, 'track with Send Users on');
    expect(await count('identify', 'cfg-user-1')).toBe(1);

    config.apply(syncSnapshot({ version: 3, sendUsers: true, sendEvents: false }));
    await ingest([{ event_type: 'Tick', user_id: 'cfg-user-2', user_properties: { visits: 1 } }], 'cfg2');
    await until(async () => (await count('identify', 'cfg-user-2')) === 1, 'identify only');

    config.apply(syncSnapshot({ version: 4, enabled: false }));
    await ingest([{ event_type: 'Tick', user_id: 'cfg-user-3' }], 'cfg3');
    // Configuration applies when the filter processes an event: let it see cfg3 while disabled.
    await until(ingestFullyAcked, 'cfg3 processed');
    config.apply(syncSnapshot({ version: 5, sendUsers: false }));
    await ingest([{ event_type: 'Tick', user_id: 'cfg-user-4' }], 'cfg4');
    await until(async () => (await count('track', 'cfg-user-4')) === 1, 'track after re-enabling');
    expect(await count('track', 'cfg-user-2')).toBe(0);
    expect(await count('track', 'cfg-user-3')).toBe(0);
    expect(await count('identify', 'cfg-user-3')).toBe(0);
    expect(await count('identify', 'cfg-user-4')).toBe(0);
  });

  it('counts a discarded payload as an outcome event with its reason', async () => {
    const w = worker('discard');
    await w.start();
    await ingest([{ event_type: 'Tick', user_id: 'old-user-1', time: Date.now() - 40 * 86_400_000 }], 'old');
    const outcomes = async () => {
      const info = await bus.jsm.streams.info(topology.streams.outcomes.name);
      const out: DeliveryOutcome[] = [];
      for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
        const m = await bus.jsm.streams.getMessage(topology.streams.outcomes.name, { seq }).catch(() => null);
        if (m) out.push(...outcomesIn(decodeJson<OutcomeMessage>(m.data)));
      }
      return out;
    };
    await until(async () => (await outcomes()).some((o) => o.result === 'discarded'), 'a discarded outcome');
    const discarded = (await outcomes()).find((o) => o.result === 'discarded')!;
    expect(discarded).toMatchObject({ syncId: 'sync-a', payloadType: 'track', attempt: 0, reason: 'older than 30 days' });
    expect((await deliveryJobs()).some((j) => j.userKey === 'old-user-1')).toBe(false);
  });

  it('keeps profiles in KV across processes', async () => {
    const store = new ProfileStore(profilesKv, { maxEntries: 10, maxBytes: 1024 * 1024 });
    const entry = await store.load(store.ref('p1', 'restart-user-3'));
    expect(entry.properties).toEqual({ visits: 20 });
    expect(published).toBeGreaterThan(0);
  });
});
