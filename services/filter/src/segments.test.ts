/**
 * The filter works the ingest stream a segment (v2 message) at a time, and still reads v1
 * records: per-user order across and within segments, a segment acked only once every record
 * of it is done, a segment given back whole when its partition is given up (the records already
 * processed skipped on redelivery), and dedup of events ingest stored twice in different
 * groupings (per-user processed keys).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigView, connectBus, createTopology, declareStreams, decodeJson, encodeJson, partitionOf, type Bus, type KV } from '@inkstream/bus';
import {
  DEFAULT_DELIVERY_SETTINGS,
  itemsOfDeliveryMessage,
  jobOfItem,
  type AmplitudeEvent,
  type DeliveryJob,
  type IngestedRecord,
  type IngestedSegment,
  type SyncSnapshot,
  type TrackPayload,
} from '@inkstream/contracts';
import { createLogger, createMetricsRegistry } from '@inkstream/service-kit';
import { profileKey, type ProfileEntry } from '@inkstream/sync-routing';
import { FilterWorker } from './filter-worker.js';
import { createFilterMetrics, type FilterMetrics } from './metrics.js';
import { ProfileStore } from './profile-store.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const logger = createLogger('filter-test', 'silent');

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const PROJECT = 'p-seg';

function sync(): SyncSnapshot {
  return {
    kind: 'sync',
    id: 'seg-sync',
    projectId: PROJECT,
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
  };
}

/** Users that fall on one partition, so one segment holds them all. */
function usersOnOnePartition(prefix: string, count: number): string[] {
  const byPartition = new Map<number, string[]>();
  for (let i = 0; ; i++) {
    const user = `${prefix}-${i}`;
    const p = partitionOf(user);
    const list = byPartition.get(p) ?? [];
    list.push(user);
    byPartition.set(p, list);
    if (list.length === count) return list;
  }
}

const tick = (user: string, n: number): AmplitudeEvent => ({
  event_type: 'Tick',
  user_id: user,
  insert_id: `${user}-n${n}`,
  time: Date.now(),
  event_properties: { n },
  user_properties: { $add: { visits: 1 } },
});

describe('filter worker: segments', () => {
  const topology = createTopology({ namespace: `t_fseg_${randomBytes(4).toString('hex')}` });
  let bus: Bus;
  let profilesKv: KV;
  let leasesKv: KV;
  let config: ConfigView;
  const workers: FilterWorker[] = [];

  beforeAll(async () => {
    bus = await connectBus({ url: NATS_URL, name: 'filter-segments-test', logger });
    await declareStreams(bus.jsm, topology);
    profilesKv = await bus.kvm.create(topology.buckets.profiles.name, { history: 1 });
    leasesKv = await bus.kvm.create(topology.buckets.filterLeases.name, { history: 1, ttl: topology.buckets.filterLeases.ttl });
    config = new ConfigView(logger);
    config.apply({ kind: 'project', id: PROJECT, name: 'p', apiKeyHash: 'h', version: 1, deleted: false, updatedAt: '' });
    config.apply(sync());
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  });

  afterAll(async () => {
    for await (const name of bus.jsm.streams.names()) {
      if (name.includes(topology.namespace.toUpperCase()) || name.includes(topology.namespace)) await bus.jsm.streams.delete(name);
    }
    await bus.close();
  });

  function worker(options: { profiles?: ProfileStore; metrics?: FilterMetrics } = {}): FilterWorker {
    const w = new FilterWorker({
      bus,
      topology,
      config,
      profiles: options.profiles ?? new ProfileStore(profilesKv, { maxEntries: 1000, maxBytes: 64 * 1024 * 1024 }),
      metrics: options.metrics ?? createFilterMetrics(createMetricsRegistry('filter')),
      logger,
      maxInFlight: 64,
      leases: leasesKv,
      replicaId: `w-${randomBytes(3).toString('hex')}`,
    });
    workers.push(w);
    return w;
  }

  let msgIds = 0;
  /** A v2 segment as ingest writes it (all records on one partition). */
  async function publishSegment(events: AmplitudeEvent[], projectId = PROJECT): Promise<void> {
    const segment: IngestedSegment = {
      v: 2,
      projectId,
      receivedAt: Date.now(),
      records: events.map((event) => ({ kind: 'event', eventKey: `i:${event.insert_id}`, userKey: event.user_id!, event })),
    };
    const partitions = new Set(events.map((e) => partitionOf(e.user_id!)));
    expect(partitions.size).toBe(1);
    await bus.js.publish(topology.subjects.ingest([...partitions][0]!), encodeJson(segment), { msgID: `seg-${msgIds++}` });
  }

  /** A v1 record, as versions before segments wrote them. */
  async function publishV1(event: AmplitudeEvent): Promise<void> {
    const record: IngestedRecord = { v: 1, kind: 'event', projectId: PROJECT, receivedAt: Date.now(), eventKey: `i:${event.insert_id}`, userKey: event.user_id!, event };
    await bus.js.publish(topology.subjects.ingest(partitionOf(event.user_id!)), encodeJson(record), { msgID: `v1-${msgIds++}` });
  }

  async function jobsOf(users: readonly string[]): Promise<DeliveryJob[]> {
    const info = await bus.jsm.streams.info(topology.streams.delivery.name);
    const out: DeliveryJob[] = [];
    for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
      const m = await bus.jsm.streams.getMessage(topology.streams.delivery.name, { seq }).catch(() => null);
      if (m) out.push(...itemsOfDeliveryMessage(new TextDecoder().decode(m.data)).map(jobOfItem));
    }
    return out.filter((j) => users.includes(j.userKey));
  }
  const tracksOf = async (user: string) =>
    (await jobsOf([user])).map((j) => j.payload as TrackPayload).map((t) => [t.properties!.n, t.user_properties!.visits]);

  async function ackPending(): Promise<number> {
    let n = 0;
    for (let p = 0; p < 16; p++) {
      const info = await bus.jsm.consumers.info(topology.streams.ingest.name, topology.consumers.filter(p).durable_name).catch(() => null);
      if (info) n += info.num_ack_pending + info.num_pending;
    }
    return n;
  }
  const fullyAcked = async () => (await ackPending()) === 0;

  async function storedProfile(user: string): Promise<ProfileEntry | undefined> {
    const e = await profilesKv.get(profileKey(PROJECT, user));
    return e && e.operation === 'PUT' && e.length > 0 ? e.json<ProfileEntry>() : undefined;
  }

  function failingKv(key: string, failures: { get: number; put?: number }): KV {
    return new Proxy(profilesKv, {
      get(target, prop, receiver) {
        if (prop === 'get') {
          return async (k: string, ...rest: unknown[]) => {
            if (k === key && failures.get-- > 0) throw new Error('injected: profile read failed');
            return (target.get as (...a: unknown[]) => unknown)(k, ...rest);
          };
        }
        if (prop === 'put') {
          return async (k: string, ...rest: unknown[]) => {
            if (k === key && (failures.put ?? 0) > 0) {
              failures.put!--;
              throw new Error('injected: profile write failed');
            }
            return (target.put as (...a: unknown[]) => unknown)(k, ...rest);
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  it('a v1 record left by an older ingest and v2 segments after it: every record once, each user in stream order', async () => {
    const [a, b] = usersOnOnePartition('order', 2) as [string, string];
    const w = worker();
    await publishV1(tick(a, 0));
    await publishSegment([tick(a, 1), tick(b, 0), tick(a, 2)]);
    await publishSegment([tick(b, 1), tick(a, 3), tick(b, 2)]);
    await w.start();
    await until(fullyAcked, 'every message acked');
    expect(await tracksOf(a)).toEqual([[0, 1], [1, 2], [2, 3], [3, 4]]);
    expect(await tracksOf(b)).toEqual([[0, 1], [1, 2], [2, 3]]);
  });

  it('the same events in two differently grouped segments (a regrouped retry) produce each payload once and count each once', async () => {
    const [a, b] = usersOnOnePartition('regroup', 2) as [string, string];
    const metrics = createFilterMetrics(createMetricsRegistry('filter'));
    const w = worker({ metrics });
    await w.start();
    // The first request; then the SDK retries a subset and the rest with new events, regrouped.
    await publishSegment([tick(a, 0), tick(b, 0), tick(a, 1)]);
    await publishSegment([tick(a, 1), tick(a, 0)]);
    await publishSegment([tick(b, 0), tick(a, 2), tick(b, 1)]);
    await until(fullyAcked, 'every message acked');
    expect(await tracksOf(a)).toEqual([[0, 1], [1, 2], [2, 3]]);
    expect(await tracksOf(b)).toEqual([[0, 1], [1, 2]]);
    // $add applied once per event, not per copy.
    expect((await storedProfile(a))!.properties).toEqual({ visits: 3 });
    expect((await storedProfile(b))!.properties).toEqual({ visits: 2 });
    expect((await metrics.recordsDuplicate.get()).values[0]?.value).toBe(3);
    expect((await metrics.records.get()).values.reduce((s, v) => s + v.value, 0)).toBe(5);
  });

  it('a regrouped retry reaching the next replica after a hand-over is skipped: the processed events are read back from the processed stream', async () => {
    const [a, b] = usersOnOnePartition('handover-retry', 2) as [string, string];
    const first = worker();
    await first.start();
    await publishSegment([tick(a, 0), tick(b, 0), tick(a, 1)]);
    await until(fullyAcked, 'the first segment acked');
    await first.stop();
    workers.splice(workers.indexOf(first), 1);
    // Profiles no longer carry the processed events: the processed stream does.
    expect((await storedProfile(a))!.seen).toEqual({});
    expect((await storedProfile(a))!.properties).toEqual({ visits: 2 });

    const metrics = createFilterMetrics(createMetricsRegistry('filter'));
    const next = worker({ metrics });
    await next.start();
    // The SDK retries a subset of the first request with a new event, regrouped.
    await publishSegment([tick(a, 1), tick(b, 0), tick(a, 2)]);
    await until(fullyAcked, 'the retry acked');
    expect(await tracksOf(a)).toEqual([[0, 1], [1, 2], [2, 3]]);
    expect(await tracksOf(b)).toEqual([[0, 1]]);
    expect((await storedProfile(a))!.properties).toEqual({ visits: 3 });
    expect((await metrics.recordsDuplicate.get()).values[0]?.value).toBe(2);
  });

  it('a regrouped retry right behind the original (its marks still being stored) waits for them and is skipped', async () => {
    const [a] = usersOnOnePartition('pending-retry', 1) as [string];
    const metrics = createFilterMetrics(createMetricsRegistry('filter'));
    const w = worker({ metrics });
    await w.start();
    await Promise.all([publishSegment([tick(a, 0), tick(a, 1)]), publishSegment([tick(a, 1)]), publishSegment([tick(a, 0), tick(a, 2)])]);
    await until(fullyAcked, 'every segment acked');
    expect(await tracksOf(a)).toEqual([[0, 1], [1, 2], [2, 3]]);
    expect((await metrics.recordsDuplicate.get()).values[0]?.value).toBe(2);
  });

  it('the same insert_id from two users, or two projects, on one partition is two events', async () => {
    const [a, b] = usersOnOnePartition('same-insert', 2) as [string, string];
    const other = 'p-other';
    config.apply({ kind: 'project', id: other, name: 'o', apiKeyHash: 'h2', version: 1, deleted: false, updatedAt: '' });
    config.apply({ ...sync(), id: 'sync-other', projectId: other });
    const metrics = createFilterMetrics(createMetricsRegistry('filter'));
    const w = worker({ metrics });
    await w.start();
    const shared = (user: string): AmplitudeEvent => ({ ...tick(user, 0), insert_id: 'shared-insert-id' });
    await publishSegment([shared(a), shared(b)]);
    await publishSegment([shared(a)], other);
    await until(fullyAcked, 'every segment acked');
    expect(await tracksOf(a)).toEqual([[0, 1], [0, 1]]);
    expect(await tracksOf(b)).toEqual([[0, 1]]);
    expect((await metrics.recordsDuplicate.get()).values[0]?.value ?? 0).toBe(0);
  });

  it('an event that changes nothing in the profile writes nothing to KV, and is still acked and skipped when retried', async () => {
    const [a] = usersOnOnePartition('unchanged', 1) as [string];
    const metrics = createFilterMetrics(createMetricsRegistry('filter'));
    const w = worker({ metrics });
    await w.start();
    const plan = (n: number): AmplitudeEvent => ({ ...tick(a, n), user_properties: { $set: { plan: 'pro' } } });
    await publishSegment([plan(0)]);
    await until(fullyAcked, 'the first event acked');
    const first = await profilesKv.get(profileKey(PROJECT, a));
    expect(first?.json<ProfileEntry>().properties).toEqual({ plan: 'pro' });
    await publishSegment([plan(1)]);
    await publishSegment([plan(2), plan(1)]);
    await until(fullyAcked, 'the later events acked');
    expect((await jobsOf([a])).map((j) => (j.payload as TrackPayload).properties!.n)).toEqual([0, 1, 2]);
    // Same plan: no write after the first.
    expect((await profilesKv.get(profileKey(PROJECT, a)))?.revision).toBe(first!.revision);
    expect((await metrics.recordsDuplicate.get()).values[0]?.value).toBe(1);
  });

  it('a segment is acked only when every record in it is done', async () => {
    const [fine, flaky] = usersOnOnePartition('ack', 2) as [string, string];
    const failures = { get: Number.POSITIVE_INFINITY };
    const metrics = createFilterMetrics(createMetricsRegistry('filter'));
    const profiles = new ProfileStore(failingKv(profileKey(PROJECT, flaky), failures), { maxEntries: 1000, maxBytes: 1024 * 1024 });
    const w = worker({ profiles, metrics });
    await w.start();
    await publishSegment([tick(fine, 0), tick(flaky, 0)]);
    // The fine user's record is routed, the flaky one's read keeps failing: the segment's outbox
    // waits for every lane, so nothing is published and the segment stays unacked.
    await until(async () => ((await metrics.stepRetries.get()).values.find((v) => v.labels.step === 'load')?.value ?? 0) >= 2, 'the read retried');
    expect(await ackPending()).toBe(1);
    expect(await jobsOf([fine, flaky])).toEqual([]);
    failures.get = 0;
    await until(fullyAcked, 'the segment acked once its last record is done');
    expect(await tracksOf(flaky)).toEqual([[0, 1]]);
    expect(await tracksOf(fine)).toEqual([[0, 1]]);
    expect((await metrics.segments.get()).values.find((v) => v.labels.result === 'acked')?.value).toBe(1);
  });

  it('a partition given up mid-segment gives its segments back whole: the next replica keeps each user’s order and repeats nothing', async () => {
    const [other, stuck] = usersOnOnePartition('handover', 2) as [string, string];
    const failures = { get: Number.POSITIVE_INFINITY };
    const metricsA = createFilterMetrics(createMetricsRegistry('filter'));
    const broken = new ProfileStore(failingKv(profileKey(PROJECT, stuck), failures), { maxEntries: 1000, maxBytes: 1024 * 1024 });
    await publishSegment([tick(stuck, 0), tick(other, 0)]);
    await publishSegment([tick(other, 1), tick(stuck, 1)]);
    await publishSegment([tick(stuck, 2), tick(other, 2)]);
    const a = worker({ profiles: broken, metrics: metricsA });
    await a.start();
    await until(async () => ((await metricsA.stepRetries.get()).values.find((v) => v.labels.step === 'load')?.value ?? 0) >= 2, 'the read retried');
    await a.stop();
    workers.splice(workers.indexOf(a), 1);
    // Giving the partition up, the stuck user's lanes gave back: each segment's outbox then went
    // out with the other user's payloads, whose profile was saved.
    expect(await jobsOf([other])).toHaveLength(3);
    expect(await jobsOf([stuck])).toEqual([]);
    expect((await metricsA.segments.get()).values.find((v) => v.labels.result === 'given back')?.value).toBe(3);
    expect((await metricsA.segments.get()).values.find((v) => v.labels.result === 'acked')).toBeUndefined();

    const metricsB = createFilterMetrics(createMetricsRegistry('filter'));
    const b = worker({ metrics: metricsB });
    await b.start();
    await until(fullyAcked, 'every segment acked by the next replica', 120_000);
    expect(await tracksOf(stuck)).toEqual([[0, 1], [1, 2], [2, 3]]);
    expect(await tracksOf(other)).toEqual([[0, 1], [1, 2], [2, 3]]);
    expect((await storedProfile(other))!.properties).toEqual({ visits: 3 });
    // The other user's records came back with their segments and were skipped.
    expect((await metricsB.recordsDuplicate.get()).values[0]?.value).toBe(3);
  });

  it('users in memory and users read from KV in the same segments: each user in stream order, retried reads hold only their user', async () => {
    const [warm1, warm2, cold, flaky] = usersOnOnePartition('mixed', 4) as [string, string, string, string];
    const failures = { get: 3 };
    const metrics = createFilterMetrics(createMetricsRegistry('filter'));
    const profiles = new ProfileStore(failingKv(profileKey(PROJECT, flaky), failures), { maxEntries: 1000, maxBytes: 1024 * 1024 });
    const w = worker({ profiles, metrics });
    await w.start();
    // The warm users' profiles are in memory from here on; the cold one's and the flaky one's are not.
    await publishSegment([tick(warm1, 0), tick(warm2, 0)]);
    await until(fullyAcked, 'the first segment acked');
    await publishSegment([tick(warm1, 1), tick(cold, 0), tick(flaky, 0), tick(warm2, 1), tick(warm1, 2)]);
    await publishSegment([tick(flaky, 1), tick(warm2, 2), tick(cold, 1), tick(warm1, 3)]);
    await publishSegment([tick(cold, 2), tick(flaky, 2), tick(warm1, 4), tick(warm2, 3)]);
    await until(fullyAcked, 'every segment acked');
    expect(((await metrics.stepRetries.get()).values.find((v) => v.labels.step === 'load')?.value ?? 0)).toBeGreaterThanOrEqual(3);
    expect(await tracksOf(warm1)).toEqual([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]);
    expect(await tracksOf(warm2)).toEqual([[0, 1], [1, 2], [2, 3], [3, 4]]);
    expect(await tracksOf(cold)).toEqual([[0, 1], [1, 2], [2, 3]]);
    expect(await tracksOf(flaky)).toEqual([[0, 1], [1, 2], [2, 3]]);
    expect((await storedProfile(warm1))!.properties).toEqual({ visits: 5 });
    expect((await storedProfile(flaky))!.properties).toEqual({ visits: 3 });
    expect((await metrics.segments.get()).values.find((v) => v.labels.result === 'acked')?.value).toBe(4);
  });

  it('a partition given up while a user read fails, its other users in memory: segments given back whole, the next replica keeps each user’s order and repeats nothing', async () => {
    const [warm, cold, stuck] = usersOnOnePartition('mixed-handover', 3) as [string, string, string];
    const failures = { get: 0 };
    const metricsA = createFilterMetrics(createMetricsRegistry('filter'));
    const broken = new ProfileStore(failingKv(profileKey(PROJECT, stuck), failures), { maxEntries: 1000, maxBytes: 1024 * 1024 });
    const a = worker({ profiles: broken, metrics: metricsA });
    await a.start();
    await publishSegment([tick(warm, 0)]);
    await until(fullyAcked, 'the first segment acked');
    failures.get = Number.POSITIVE_INFINITY;
    // The warm user's lanes run at once (profile in memory), the cold one's after a read, the
    // stuck one's read keeps failing; the warm user's later lanes wait for its earlier ones.
    await publishSegment([tick(warm, 1), tick(stuck, 0), tick(cold, 0)]);
    await publishSegment([tick(cold, 1), tick(warm, 2), tick(stuck, 1)]);
    await publishSegment([tick(stuck, 2), tick(warm, 3), tick(cold, 2)]);
    await until(async () => ((await metricsA.stepRetries.get()).values.find((v) => v.labels.step === 'load')?.value ?? 0) >= 2, 'the read retried');
    // Every segment's outbox waits for the stuck user's lane: nothing of them is published yet.
    expect(await tracksOf(warm)).toEqual([[0, 1]]);
    expect(await jobsOf([cold, stuck])).toEqual([]);
    await a.stop();
    workers.splice(workers.indexOf(a), 1);
    // Giving the partition up, the stuck user's lanes gave back: the outboxes went out with the others' payloads.
    expect(await jobsOf([warm])).toHaveLength(4);
    expect(await jobsOf([cold])).toHaveLength(3);
    expect(await jobsOf([stuck])).toEqual([]);
    expect((await metricsA.segments.get()).values.find((v) => v.labels.result === 'given back')?.value).toBe(3);

    const metricsB = createFilterMetrics(createMetricsRegistry('filter'));
    const b = worker({ metrics: metricsB });
    await b.start();
    await until(fullyAcked, 'every segment acked by the next replica', 120_000);
    expect(await tracksOf(warm)).toEqual([[0, 1], [1, 2], [2, 3], [3, 4]]);
    expect(await tracksOf(cold)).toEqual([[0, 1], [1, 2], [2, 3]]);
    expect(await tracksOf(stuck)).toEqual([[0, 1], [1, 2], [2, 3]]);
    expect((await storedProfile(warm))!.properties).toEqual({ visits: 4 });
    expect((await storedProfile(cold))!.properties).toEqual({ visits: 3 });
    expect((await storedProfile(stuck))!.properties).toEqual({ visits: 3 });
    // The warm and cold users' records came back with their segments and were skipped.
    expect((await metricsB.recordsDuplicate.get()).values[0]?.value).toBe(6);
  });

  /** Delivery-stream messages as stored: message id and items. */
  async function deliveryMessages(): Promise<Array<{ msgId: string | undefined; items: ReturnType<typeof itemsOfDeliveryMessage> }>> {
    const info = await bus.jsm.streams.info(topology.streams.delivery.name);
    const out: Array<{ msgId: string | undefined; items: ReturnType<typeof itemsOfDeliveryMessage> }> = [];
    for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
      const m = await bus.jsm.streams.getMessage(topology.streams.delivery.name, { seq }).catch(() => null);
      if (m) out.push({ msgId: m.header?.get('Nats-Msg-Id'), items: itemsOfDeliveryMessage(new TextDecoder().decode(m.data)) });
    }
    return out;
  }

  it('many users in one ingest message: one delivery segment per sync, each user’s payloads in stream order', async () => {
    const project = 'p-many';
    config.apply({ kind: 'project', id: project, name: 'p', apiKeyHash: 'h', version: 1, deleted: false, updatedAt: '' });
    config.apply({ ...sync(), id: 'many-1', projectId: project });
    config.apply({ ...sync(), id: 'many-2', projectId: project });
    const users = usersOnOnePartition('many', 6);
    const events: AmplitudeEvent[] = [];
    for (let n = 0; n < 4; n++) for (const u of users) events.push(tick(u, n));
    const metrics = createFilterMetrics(createMetricsRegistry('filter'));
    const w = worker({ metrics });
    await w.start();
    await publishSegment(events, project);
    await until(fullyAcked, 'the message acked');
    const mine = (await deliveryMessages()).filter((m) => m.items[0]!.projectId === project);
    expect(mine.map((m) => [m.items[0]!.syncId, m.items.length])).toEqual([
      ['many-1', 24],
      ['many-2', 24],
    ]);
    for (const m of mine) {
      expect(m.msgId).toMatch(/^s2:/);
      expect(new Set(m.items.map((i) => i.syncId))).toEqual(new Set([m.items[0]!.syncId]));
      for (const u of users) {
        const ns = m.items.filter((i) => i.userKey === u).map((i) => (JSON.parse(i.payloadJson) as TrackPayload).properties!.n);
        expect(ns).toEqual([0, 1, 2, 3]);
      }
    }
    expect((await metrics.deliverySegments.get()).values[0]?.value).toBe(2);
    for (const u of users) expect((await profilesKv.get(profileKey(project, u)))!.json<ProfileEntry>().properties).toEqual({ visits: 4 });
  });

  it('a message given back after its segments were stored is redelivered to the same segment ids: the stream drops the repeats', async () => {
    const [a, b, c] = usersOnOnePartition('redo', 3) as [string, string, string];
    // The first replica publishes the segment, but its profile writes for `c` never get stored:
    // giving the partition up, the message goes back unacked, and nothing remembers it as processed.
    const failures = { get: 0, put: Number.POSITIVE_INFINITY };
    const metricsA = createFilterMetrics(createMetricsRegistry('filter'));
    const broken = new ProfileStore(failingKv(profileKey(PROJECT, c), failures), { maxEntries: 1000, maxBytes: 1024 * 1024 });
    const first = worker({ profiles: broken, metrics: metricsA });
    await first.start();
    await publishSegment([tick(a, 0), tick(b, 0), tick(c, 0), tick(a, 1)]);
    await until(async () => (await jobsOf([a, b, c])).length === 4, 'the segment published');
    const before = (await deliveryMessages()).filter((m) => m.items.some((i) => [a, b, c].includes(i.userKey)));
    expect(before).toHaveLength(1);
    await first.stop();
    workers.splice(workers.indexOf(first), 1);
    expect((await metricsA.segments.get()).values.find((v) => v.labels.result === 'given back')?.value).toBe(1);
    failures.put = 0;
    // The next replica forgets what the first staged (a fresh store) and the events it marked
    // processed, as after a crash before any of it was stored.
    await profilesKv.purge(profileKey(PROJECT, a)).catch(() => undefined);
    await profilesKv.purge(profileKey(PROJECT, b)).catch(() => undefined);
    await bus.jsm.streams.purge(topology.streams.processed.name);
    const metricsB = createFilterMetrics(createMetricsRegistry('filter'));
    const next = worker({ metrics: metricsB });
    await next.start();
    await until(fullyAcked, 'the redelivered message acked', 120_000);
    // Routed again the same way: the same segment id, which the stream already holds.
    expect((await metricsB.deliverySegments.get()).values[0]?.value).toBe(1);
    const after = (await deliveryMessages()).filter((m) => m.items.some((i) => [a, b, c].includes(i.userKey)));
    expect(after.map((m) => m.msgId)).toEqual(before.map((m) => m.msgId));
    expect((await jobsOf([a, b, c])).map((j) => j.messageId)).toEqual(before[0]!.items.map((i) => i.messageId));
    expect(await tracksOf(a)).toEqual([[0, 1], [1, 2]]);
  });

  it('an unreadable ingest message is terminated and not redelivered', async () => {
    const metrics = createFilterMetrics(createMetricsRegistry('filter'));
    const w = worker({ metrics });
    await w.start();
    const partition = 7;
    await bus.js.publish(topology.subjects.ingest(partition), new TextEncoder().encode('{"v":9,"not":"an ingest message"}'), { msgID: `bad-${msgIds++}` });
    const durable = topology.consumers.filter(partition).durable_name;
    await until(async () => ((await metrics.recordsDropped.get()).values.find((v) => v.labels.reason === 'unreadable')?.value ?? 0) >= 1, 'the message dropped');
    await until(async () => {
      const info = await bus.jsm.consumers.info(topology.streams.ingest.name, durable);
      return info.num_ack_pending === 0 && info.num_pending === 0;
    }, 'the message terminated');
    // A nak would hand it out again at once: give it ample time to come back, then check it did not.
    await new Promise((r) => setTimeout(r, 3_000));
    const info = await bus.jsm.consumers.info(topology.streams.ingest.name, durable);
    expect(info.num_redelivered).toBe(0);
    expect(info.num_ack_pending).toBe(0);
    expect(info.delivered.consumer_seq).toBe(info.ack_floor.consumer_seq);
    expect((await metrics.recordsDropped.get()).values.find((v) => v.labels.reason === 'unreadable')?.value).toBe(1);
  });
});
