import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { ConfigView, LeanPublisher, connectBus, createTopology, declareStreams, decodeJson, encodeJson, partitionOf, type Bus, type KV } from '@inkstream/bus';
import {
  DEFAULT_DELIVERY_SETTINGS,
  itemsOfDeliveryMessage,
  jobOfItem,
  type DeliveryJob,
  outcomesIn,
  type OutcomeMessage,
  type IdentifyPayload,
  type IngestedRecord,
  type SyncSnapshot,
  type TrackPayload,
} from '@inkstream/contracts';
import { createLogger, createMetricsRegistry } from '@inkstream/service-kit';
import { profileKey, type ProfileEntry } from '@inkstream/sync-routing';
import { waitFor } from '@inkstream/testing';
import { classifyPublishFailure } from './bus-limits.js';
import { FilterWorker } from './filter-worker.js';
import { createFilterMetrics, type FilterMetrics } from './metrics.js';
import { ProfileStore } from './profile-store.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const logger = createLogger('filter-limits-test', 'silent');

/**
 * Nothing stalls a user or a partition in the filter (issue 12): oversize profiles and jobs,
 * failing profile reads and writes, discarded identifies, and the knobs that bound memory —
 * all against the real NATS.
 */
describe('filter limits through real NATS', () => {
  const topology = createTopology({ namespace: `t_flim_${randomBytes(4).toString('hex')}` });
  let bus: Bus;
  let profilesKv: KV;
  let leasesKv: KV;
  const workers: FilterWorker[] = [];

  beforeAll(async () => {
    bus = await connectBus({ url: NATS_URL, name: 'filter-limits-test', logger });
    await declareStreams(bus.jsm, topology);
    profilesKv = await bus.kvm.create(topology.buckets.profiles.name, { history: 1 });
    leasesKv = await bus.kvm.create(topology.buckets.filterLeases.name, { history: 1, ttl: topology.buckets.filterLeases.ttl });
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

  function sync(id: string, projectId: string, overrides: Partial<SyncSnapshot> = {}): SyncSnapshot {
    return {
      kind: 'sync',
      id,
      projectId,
      name: id,
      enabled: true,
      endpointUrl: 'https://example.com',
      authorizationSealed: 'v1.x',
      sendEvents: true,
      eventFilters: [{ eventType: '*' }],
      eventProperties: ['n'],
      sendUsers: true,
      userProperties: ['*'],
      delivery: DEFAULT_DELIVERY_SETTINGS,
      version: 1,
      deleted: false,
      updatedAt: '',
      ...overrides,
    };
  }

  /** A config view holding one project and its syncs (each test its own project). */
  function configWith(projectId: string, syncs: SyncSnapshot[]): ConfigView {
    const config = new ConfigView(logger);
    config.apply({ kind: 'project', id: projectId, name: projectId, apiKeyHash: 'h', version: 1, deleted: false, updatedAt: '' });
    for (const s of syncs) config.apply(s);
    return config;
  }

  function worker(
    config: ConfigView,
    options: {
      profiles?: ProfileStore;
      maxInFlight?: number;
      maxProfileBytes?: number;
      metrics?: FilterMetrics;
      maxWorkingBytes?: number;
      workHoldLimitMs?: number;
    } = {},
  ): FilterWorker {
    const w = new FilterWorker({
      bus,
      topology,
      config,
      profiles: options.profiles ?? new ProfileStore(profilesKv, { maxEntries: 1000, maxBytes: 64 * 1024 * 1024 }),
      metrics: options.metrics ?? createFilterMetrics(createMetricsRegistry('filter')),
      logger,
      maxInFlight: options.maxInFlight ?? 64,
      ...(options.maxProfileBytes !== undefined ? { maxProfileBytes: options.maxProfileBytes } : {}),
      ...(options.maxWorkingBytes !== undefined ? { maxWorkingBytes: options.maxWorkingBytes } : {}),
      ...(options.workHoldLimitMs !== undefined ? { workHoldLimitMs: options.workHoldLimitMs } : {}),
      leases: leasesKv,
      replicaId: `w-${randomBytes(3).toString('hex')}`,
    });
    workers.push(w);
    return w;
  }

  async function ingest(projectId: string, events: Array<IngestedRecord['event']>, prefix: string): Promise<void> {
    for (const [i, event] of events.entries()) {
      const userKey = (event.user_id ?? event.device_id)!;
      const record: IngestedRecord = { v: 1, kind: 'event', projectId, receivedAt: Date.now(), eventKey: `${prefix}-${i}`, userKey, event };
      await bus.js.publish(topology.subjects.ingest(partitionOf(userKey)), encodeJson(record), { msgID: `${prefix}-${i}` });
    }
  }

  async function streamMessages<T>(stream: string): Promise<T[]> {
    const info = await bus.jsm.streams.info(stream);
    const out: T[] = [];
    for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
      const m = await bus.jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (m) out.push(decodeJson<T>(m.data));
    }
    return out;
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
  const jobsOf = async (projectId: string) => (await deliveryJobs()).filter((j) => j.projectId === projectId);
  const outcomesOf = async (syncIds: string[]) =>
    (await streamMessages<OutcomeMessage>(topology.streams.outcomes.name)).flatMap(outcomesIn).filter((o) => syncIds.includes(o.syncId));

  async function ingestFullyAcked(): Promise<boolean> {
    for (let p = 0; p < 16; p++) {
      const info = await bus.jsm.consumers.info(topology.streams.ingest.name, topology.consumers.filter(p).durable_name).catch(() => null);
      if (!info || info.num_pending > 0 || info.num_ack_pending > 0) return false;
    }
    return true;
  }

  async function storedProfile(projectId: string, userKey: string): Promise<{ entry: ProfileEntry; bytes: number } | undefined> {
    const e = await profilesKv.get(profileKey(projectId, userKey));
    if (!e || e.operation !== 'PUT' || e.length === 0) return undefined;
    return { entry: e.json<ProfileEntry>(), bytes: e.length };
  }

  const essay = 'x'.repeat(300_000);

  it('three Send Users syncs with userProperties ["*"] and a 300 KB user property: the user keeps flowing', async () => {
    const ids = ['big-1', 'big-2', 'big-3'];
    const w = worker(configWith('p-big', ids.map((id) => sync(id, 'p-big'))));
    await w.start();
    const user = 'big-user-1';
    await ingest(
      'p-big',
      [
        { event_type: 'Essay Written', user_id: user, time: Date.now(), event_properties: { n: 0 }, user_properties: { email: 'a@example.com', essay } },
        { event_type: 'Tick', user_id: user, time: Date.now(), event_properties: { n: 1 } },
        { event_type: 'Tick', user_id: user, time: Date.now(), event_properties: { n: 2 }, user_properties: { plan: 'pro' } },
      ],
      'big',
    );
    await waitFor(ingestFullyAcked, 'every event acked', 90_000);
    const jobs = await jobsOf('p-big');
    for (const id of ids) {
      const mine = jobs.filter((j) => j.syncId === id);
      expect(mine.map((j) => j.payloadType)).toEqual(['identify', 'track', 'track', 'identify', 'track']);
      expect((mine[0]!.payload as IdentifyPayload).traits).toEqual({ email: 'a@example.com', essay });
      expect(mine.filter((j) => j.payloadType === 'track').map((j) => (j.payload as TrackPayload).properties!.n)).toEqual([0, 1, 2]);
    }
    // The profile holds the traits once, not once per sync.
    const stored = (await storedProfile('p-big', user))!;
    expect(stored.entry.properties).toEqual({ email: 'a@example.com', essay, plan: 'pro' });
    expect(Object.keys(stored.entry.identified).sort()).toEqual(ids);
    expect(stored.bytes).toBeLessThan(302_000);
  });

  it('a profile over FILTER_PROFILE_MAX_BYTES loses its largest traits, counted, and the user keeps flowing', async () => {
    const metrics = createFilterMetrics(createMetricsRegistry('filter'));
    const w = worker(configWith('p-bound', [sync('bound-1', 'p-bound')]), { maxProfileBytes: 100_000, metrics });
    await w.start();
    const user = 'bound-user-1';
    await ingest(
      'p-bound',
      [
        { event_type: 'Essay Written', user_id: user, time: Date.now(), event_properties: { n: 0 }, user_properties: { email: 'a@example.com', essay } },
        { event_type: 'Tick', user_id: user, time: Date.now(), event_properties: { n: 1 } },
      ],
      'bound',
    );
    await waitFor(ingestFullyAcked, 'every event acked', 90_000);
    const jobs = await jobsOf('p-bound');
    expect(jobs.map((j) => j.payloadType)).toEqual(['identify', 'track', 'track']);
    expect((jobs[0]!.payload as IdentifyPayload).traits).toEqual({ email: 'a@example.com' });
    const stored = (await storedProfile('p-bound', user))!;
    expect(stored.entry.properties).toEqual({ email: 'a@example.com' });
    expect(stored.bytes).toBeLessThanOrEqual(100_000);
    expect((await metrics.traitsDropped.get()).values[0]?.value).toBe(1);
  });

  it('a ~1.5 MB job (maxRequestBytes 2,000,000) over the server max_payload is discarded with a reason, not retried forever', async () => {
    const maxPayload = bus.nc.info!.max_payload;
    expect(maxPayload).toBeLessThan(1_400_000);
    const wide = { ...DEFAULT_DELIVERY_SETTINGS, maxRequestBytes: 2_000_000 };
    const metrics = createFilterMetrics(createMetricsRegistry('filter'));
    const w = worker(configWith('p-wide', [sync('wide-1', 'p-wide', { eventProperties: ['blob', 'n'], delivery: wide })]), { metrics });
    await w.start();
    const user = 'wide-user-1';
    // The profile carries ~500 KB of traits, the event ~900 KB of properties: the track is ~1.4 MB.
    await ingest(
      'p-wide',
      [
        { event_type: 'Bio Written', user_id: user, time: Date.now(), event_properties: { n: 0 }, user_properties: { bio: 'b'.repeat(500_000) } },
        { event_type: 'Upload', user_id: user, time: Date.now(), event_properties: { n: 1, blob: 'u'.repeat(900_000) } },
        { event_type: 'Tick', user_id: user, time: Date.now(), event_properties: { n: 2 } },
      ],
      'wide',
    );
    await waitFor(ingestFullyAcked, 'every event acked', 90_000);
    const jobs = await jobsOf('p-wide');
    expect(jobs.filter((j) => j.payloadType === 'track').map((j) => (j.payload as TrackPayload).properties!.n)).toEqual([0, 2]);
    const discarded = await waitFor(async () => (await outcomesOf(['wide-1'])).find((o) => o.result === 'discarded'), 'a discard outcome');
    expect(discarded).toMatchObject({ syncId: 'wide-1', payloadType: 'track', attempt: 0, reason: 'too large for NATS' });
    const counted = (await metrics.payloads.get()).values.find((v) => v.labels.outcome === 'discarded');
    expect(counted).toMatchObject({ value: 1, labels: { reason: 'too large for NATS' } });
  });

  it('a segment JetStream refuses for its size is halved down to single payloads; those still refused are discarded, and a refused identify is not remembered', async () => {
    const delivery = topology.streams.delivery.name;
    const w = worker(configWith('p-refused', [sync('refused-1', 'p-refused', { userProperties: ['bio'] })]));
    await w.start();
    const user = 'refused-user-1';
    // The server's max_payload allows this segment; the stream's max_msg_size does not.
    const { config } = await bus.jsm.streams.info(delivery);
    await bus.jsm.streams.update(delivery, { ...config, max_msg_size: 10_000 });
    try {
      await ingest('p-refused', [{ event_type: 'Tick', user_id: user, time: Date.now(), event_properties: { n: 0 }, user_properties: { bio: 'b'.repeat(20_000) } }], 'refused-a');
      await waitFor(ingestFullyAcked, 'the event acked', 90_000);
    } finally {
      await bus.jsm.streams.update(delivery, { ...config, max_msg_size: -1 });
    }
    const outcomes = await waitFor(async () => {
      const o = await outcomesOf(['refused-1']);
      return o.length >= 2 ? o : undefined;
    }, 'two discard outcomes');
    expect(outcomes.map((o) => [o.payloadType, o.reason])).toEqual([
      ['identify', 'too large for NATS'],
      ['track', 'too large for NATS'],
    ]);
    expect(await jobsOf('p-refused')).toEqual([]);
    expect((await storedProfile('p-refused', user))!.entry.identified).toEqual({});
    // Same traits, now that the stream takes them: the user is identified.
    await ingest('p-refused', [{ event_type: 'Tick', user_id: user, time: Date.now(), event_properties: { n: 1 } }], 'refused-b');
    await waitFor(ingestFullyAcked, 'the second event acked', 90_000);
    expect((await jobsOf('p-refused')).map((j) => j.payloadType)).toEqual(['identify', 'track']);
  });

  it('recognises the refusal the NATS client gives a message over max_payload', async () => {
    const err = await bus.js.publish(topology.subjects.delivery('nowhere', 0), new Uint8Array(bus.nc.info!.max_payload + 1)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    expect(classifyPublishFailure(err)).toBe('too large');
  });

  /** The real profiles bucket, with reads and writes of one user's profile failing a few times. */
  function failingKv(kv: KV, key: string, failures: { get: number; put: number }): KV {
    return new Proxy(kv, {
      get(target, prop, receiver) {
        if (prop === 'get') {
          return async (k: string, ...rest: unknown[]) => {
            if (k === key && failures.get-- > 0) throw new Error('injected: profile read failed');
            return (target.get as (...a: unknown[]) => unknown)(k, ...rest);
          };
        }
        if (prop === 'put') {
          return async (k: string, ...rest: unknown[]) => {
            if (k === key && failures.put-- > 0) throw new Error('injected: profile write failed');
            return (target.put as (...a: unknown[]) => unknown)(k, ...rest);
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  it('a failing profile read or write holds the user and is retried: no update lost, no event passes another', async () => {
    const user = 'flaky-user-1';
    const failures = { get: 3, put: 3 };
    const metrics = createFilterMetrics(createMetricsRegistry('filter'));
    const profiles = new ProfileStore(failingKv(profilesKv, profileKey('p-flaky', user), failures), { maxEntries: 1000, maxBytes: 1024 * 1024 });
    const w = worker(configWith('p-flaky', [sync('flaky-1', 'p-flaky', { sendUsers: false, userProperties: ['plan', 'visits'] })]), { profiles, metrics });
    // Every event is already waiting when the worker starts, so later ones queue behind the first.
    await ingest(
      'p-flaky',
      Array.from({ length: 6 }, (_, n) => ({
        event_type: 'Tick',
        user_id: user,
        time: Date.now(),
        event_properties: { n },
        user_properties: { $set: { plan: `plan-${n}` }, $add: { visits: 1 } },
      })),
      'flaky',
    );
    await w.start();
    await waitFor(ingestFullyAcked, 'every event acked', 90_000);
    const tracks = (await jobsOf('p-flaky')).map((j) => j.payload as TrackPayload);
    expect(tracks.map((t) => t.properties!.n)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(tracks.map((t) => t.user_properties)).toEqual(Array.from({ length: 6 }, (_, n) => ({ plan: `plan-${n}`, visits: n + 1 })));
    expect((await storedProfile('p-flaky', user))!.entry.properties).toEqual({ plan: 'plan-5', visits: 6 });
    expect(failures.get).toBeLessThan(0);
    expect(failures.put).toBeLessThan(0);
    const retries = (await metrics.stepRetries.get()).values;
    expect(retries.find((v) => v.labels.step === 'load')?.value).toBe(3);
    expect(retries.find((v) => v.labels.step === 'save')?.value).toBe(3);
  });

  it('a replica that stops while a user profile cannot be read leaves that user events, in order, to the next', async () => {
    const user = 'handover-user-1';
    const failures = { get: Number.POSITIVE_INFINITY, put: 0 };
    const metrics = createFilterMetrics(createMetricsRegistry('filter'));
    const config = configWith('p-handover', [sync('handover-1', 'p-handover', { sendUsers: false, userProperties: ['visits'] })]);
    const broken = new ProfileStore(failingKv(profilesKv, profileKey('p-handover', user), failures), { maxEntries: 1000, maxBytes: 1024 * 1024 });
    const a = worker(config, { profiles: broken, metrics });
    await ingest(
      'p-handover',
      Array.from({ length: 4 }, (_, n) => ({ event_type: 'Tick', user_id: user, time: Date.now(), event_properties: { n }, user_properties: { $add: { visits: 1 } } })),
      'handover',
    );
    await a.start();
    await waitFor(async () => ((await metrics.stepRetries.get()).values.find((v) => v.labels.step === 'load')?.value ?? 0) >= 2, 'the read to be retried');
    await a.stop();
    workers.splice(workers.indexOf(a), 1);
    expect(await jobsOf('p-handover')).toEqual([]);
    const b = worker(config);
    await b.start();
    await waitFor(ingestFullyAcked, 'every event acked by the next replica', 120_000);
    const tracks = (await jobsOf('p-handover')).map((j) => j.payload as TrackPayload);
    expect(tracks.map((t) => [t.properties!.n, t.user_properties!.visits])).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 4],
    ]);
  });

  /** The real profiles bucket, with puts held behind a gate or failing while `failing` is set. */
  function controlledKv(kv: KV) {
    const control = { puts: 0, gate: undefined as Promise<void> | undefined, failing: false };
    const proxy = new Proxy(kv, {
      get(target, prop, receiver) {
        if (prop === 'put') {
          return async (...args: unknown[]) => {
            control.puts++;
            if (control.gate) await control.gate;
            if (control.failing) throw new Error('injected: profile write failed');
            return (target.put as (...a: unknown[]) => unknown)(...args);
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    return { kv: proxy, control };
  }

  async function ackPending(userKey: string): Promise<number> {
    const info = await bus.jsm.consumers.info(topology.streams.ingest.name, topology.consumers.filter(partitionOf(userKey)).durable_name);
    return info.num_ack_pending;
  }

  it('write-behind: the next events of a user read its staged profile, and each is acked only once its profile write is stored', async () => {
    const user = 'behind-user-1';
    const { kv, control } = controlledKv(profilesKv);
    let open!: () => void;
    control.gate = new Promise<void>((r) => (open = r));
    const profiles = new ProfileStore(kv, { maxEntries: 1000, maxBytes: 1024 * 1024 });
    const w = worker(configWith('p-behind', [sync('behind-1', 'p-behind', { sendUsers: false, userProperties: ['visits'] })]), { profiles });
    await w.start();
    await ingest(
      'p-behind',
      Array.from({ length: 3 }, (_, n) => ({ event_type: 'Tick', user_id: user, time: Date.now(), event_properties: { n }, user_properties: { $add: { visits: 1 } } })),
      'behind',
    );
    // Every event is routed (its job published) on the staged profile while no write is stored.
    await waitFor(async () => (await jobsOf('p-behind')).length === 3, 'three jobs published');
    expect((await jobsOf('p-behind')).map((j) => (j.payload as TrackPayload).user_properties)).toEqual([{ visits: 1 }, { visits: 2 }, { visits: 3 }]);
    expect(control.puts).toBeGreaterThan(0);
    expect(await ackPending(user)).toBe(3);
    expect(await storedProfile('p-behind', user)).toBeUndefined();
    control.gate = undefined;
    open();
    await waitFor(ingestFullyAcked, 'every event acked once stored', 90_000);
    expect((await storedProfile('p-behind', user))!.entry.properties).toEqual({ visits: 3 });
    // The three saves coalesced into fewer writes than events.
    expect(control.puts).toBeLessThan(3);
  });

  it('a replica that stops while its profile writes fail leaves those events unacked, in order, to the next: none acked without its write', async () => {
    const user = 'stuck-write-user-1';
    const { kv, control } = controlledKv(profilesKv);
    control.failing = true;
    const metrics = createFilterMetrics(createMetricsRegistry('filter'));
    const config = configWith('p-stuck', [sync('stuck-1', 'p-stuck', { sendUsers: false, userProperties: ['visits'] })]);
    const a = worker(config, { profiles: new ProfileStore(kv, { maxEntries: 1000, maxBytes: 1024 * 1024, retryBaseMs: 50 }), metrics });
    await ingest(
      'p-stuck',
      Array.from({ length: 4 }, (_, n) => ({ event_type: 'Tick', user_id: user, time: Date.now(), event_properties: { n }, user_properties: { $add: { visits: 1 } } })),
      'stuck',
    );
    await a.start();
    await waitFor(async () => ((await metrics.stepRetries.get()).values.find((v) => v.labels.step === 'save')?.value ?? 0) >= 2, 'the write to be retried');
    expect(await ackPending(user)).toBe(4);
    await a.stop();
    workers.splice(workers.indexOf(a), 1);
    expect(await storedProfile('p-stuck', user)).toBeUndefined();
    const b = worker(config);
    await b.start();
    await waitFor(ingestFullyAcked, 'every event acked by the next replica', 120_000);
    expect((await storedProfile('p-stuck', user))!.entry.properties).toEqual({ visits: 4 });
    const tracks = (await jobsOf('p-stuck')).map((j) => j.payload as TrackPayload);
    // Replica A published the jobs before its writes failed; B publishes them again (same
    // message ids, deduplicated by JetStream) with the same profile, in the same order.
    expect(tracks.map((t) => [t.properties!.n, t.user_properties!.visits])).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 4],
    ]);
  });

  it('a segment whose first publish fails is published again whole: the identify still reaches the delivery stream before its track', async () => {
    let failures = 1;
    // The filter publishes segments with plain publishes (LeanPublisher): the fault goes there,
    // a rejected publish as for a message nats.js refuses.
    const publish = LeanPublisher.prototype.publish;
    const injected = vi.spyOn(LeanPublisher.prototype, 'publish').mockImplementation(function (this: LeanPublisher, subject, data, options) {
      const isJob = subject.startsWith(`${topology.namespace}.delivery.`);
      const hasIdentify = isJob && itemsOfDeliveryMessage(new TextDecoder().decode(data)).some((i) => i.payloadType === 'identify');
      if (hasIdentify && failures-- > 0) return Promise.reject(new Error('injected: publish failed'));
      return publish.call(this, subject, data, options);
    });
    onTestFinished(() => injected.mockRestore());
    const metrics = createFilterMetrics(createMetricsRegistry('filter'));
    const w = worker(configWith('p-order', [sync('order-1', 'p-order', { userProperties: ['plan'] })]), { metrics });
    await w.start();
    await ingest('p-order', [{ event_type: 'Tick', user_id: 'order-user-1', time: Date.now(), event_properties: { n: 0 }, user_properties: { plan: 'pro' } }], 'order');
    await waitFor(ingestFullyAcked, 'the event acked', 90_000);
    expect((await jobsOf('p-order')).map((j) => j.payloadType)).toEqual(['identify', 'track']);
    expect((await metrics.publishRetries.get()).values[0]?.value).toBe(1);
  });

  it('an identify discarded as older than 30 days is not remembered: the next event identifies the user', async () => {
    const w = worker(configWith('p-old', [sync('old-1', 'p-old', { userProperties: ['email'] })]));
    await w.start();
    const user = 'old-user-1';
    await ingest(
      'p-old',
      [
        { event_type: 'Tick', user_id: user, time: Date.now() - 40 * 86_400_000, event_properties: { n: 0 }, user_properties: { email: 'a@example.com' } },
        { event_type: 'Tick', user_id: user, time: Date.now(), event_properties: { n: 1 }, user_properties: { email: 'a@example.com' } },
      ],
      'old',
    );
    await waitFor(ingestFullyAcked, 'every event acked', 90_000);
    const jobs = await jobsOf('p-old');
    expect(jobs.map((j) => j.payloadType)).toEqual(['identify', 'track']);
    expect((jobs[0]!.payload as IdentifyPayload).traits).toEqual({ email: 'a@example.com' });
    const outcomes = await waitFor(async () => {
      const o = await outcomesOf(['old-1']);
      return o.length >= 2 ? o : undefined;
    }, 'two discard outcomes');
    expect(outcomes.map((o) => [o.payloadType, o.reason])).toEqual([
      ['identify', 'older than 30 days'],
      ['track', 'older than 30 days'],
    ]);
  });

  /** The real profiles bucket, its reads held until `release` (counting those waiting now and at most). */
  function heldReadsKv() {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const reads = { now: 0, most: 0 };
    const kv = new Proxy(profilesKv, {
      get(target, prop, receiver) {
        if (prop === 'get') {
          return async (k: string) => {
            reads.now++;
            reads.most = Math.max(reads.most, reads.now);
            await held;
            reads.now--;
            return target.get(k);
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    return { kv, reads, release };
  }

  it('FILTER_MAX_IN_FLIGHT bounds the events a partition consumer holds', async () => {
    // Users of one partition, so one consumer gets every event.
    const partition = partitionOf('slow-user-0');
    const users: string[] = [];
    for (let i = 0; users.length < 40; i++) if (partitionOf(`slow-user-${i}`) === partition) users.push(`slow-user-${i}`);
    const { kv: slowKv, reads, release } = heldReadsKv();
    const profiles = new ProfileStore(slowKv, { maxEntries: 1000, maxBytes: 1024 * 1024 });
    const w = worker(configWith('p-slow', [sync('slow-1', 'p-slow', { sendUsers: false })]), { profiles, maxInFlight: 4 });
    await ingest('p-slow', users.map((user_id, n) => ({ event_type: 'Tick', user_id, time: Date.now(), event_properties: { n } })), 'slow');
    await w.start();
    const durable = topology.consumers.filter(partition).durable_name;
    try {
      await waitFor(() => reads.now >= 4, 'four events in flight');
      // Give JetStream every chance to hand out more than it should.
      await new Promise((r) => setTimeout(r, 3_000));
      const info = await bus.jsm.consumers.info(topology.streams.ingest.name, durable);
      expect(info.config.max_ack_pending).toBe(4);
      expect(info.num_ack_pending).toBeLessThanOrEqual(4);
      expect(w.inFlight).toBeLessThanOrEqual(4);
      expect(reads.most).toBe(4);
    } finally {
      release();
    }
    await waitFor(ingestFullyAcked, 'every event acked', 90_000);
    expect((await jobsOf('p-slow')).map((j) => (j.payload as TrackPayload).properties!.n).sort((a, b) => Number(a) - Number(b))).toEqual(
      users.map((_, n) => n),
    );
    expect(reads.most).toBeLessThanOrEqual(4);
  });

  /** `count` users of different partitions (their prefix, then a number), in partition order. */
  function usersOfPartitions(prefix: string, count: number): string[] {
    const byPartition = new Map<number, string>();
    for (let i = 0; byPartition.size < count; i++) {
      const user = `${prefix}-${i}`;
      if (!byPartition.has(partitionOf(user))) byPartition.set(partitionOf(user), user);
    }
    return [...byPartition.values()];
  }

  it('FILTER_MAX_WORKING_BYTES bounds the messages worked at once across partitions; the others wait unparsed, then all go through', async () => {
    const users = usersOfPartitions('gated-user', 6);
    const { kv: slowKv, reads, release } = heldReadsKv();
    const profiles = new ProfileStore(slowKv, { maxEntries: 1000, maxBytes: 1024 * 1024 });
    // Room for one message (each is larger than a byte; one alone is always let in); none is overdue in this test.
    const w = worker(configWith('p-gated', [sync('gated-1', 'p-gated', { sendUsers: false })]), { profiles, maxWorkingBytes: 1, workHoldLimitMs: 600_000 });
    await ingest('p-gated', users.map((user_id, n) => ({ event_type: 'Tick', user_id, time: Date.now(), event_properties: { n } })), 'gated');
    await w.start();
    try {
      // Every partition's consumer hands its message over; one is worked, the others wait at the gate.
      await waitFor(() => w.work.queued === users.length - 1, 'the other messages waiting at the gate');
      expect(reads.now).toBe(1);
      expect(w.work.bytes).toBeGreaterThan(0);
      expect(w.inFlight).toBe(users.length);
    } finally {
      release();
    }
    await waitFor(ingestFullyAcked, 'every event acked', 90_000);
    expect(reads.most).toBe(1);
    expect(w.work.queued).toBe(0);
    expect(w.work.bytes).toBe(0);
    expect((await jobsOf('p-gated')).map((j) => (j.payload as TrackPayload).properties!.n).sort((a, b) => Number(a) - Number(b))).toEqual(users.map((_, n) => n));
  });

  it('a user whose profile cannot be read holds its own messages, not the work gate: other partitions go on', async () => {
    const [stuck, ...others] = usersOfPartitions('gate-stuck', 5);
    const failures = { get: Number.POSITIVE_INFINITY, put: 0 };
    const metrics = createFilterMetrics(createMetricsRegistry('filter'));
    const profiles = new ProfileStore(failingKv(profilesKv, profileKey('p-gate-stuck', stuck!), failures), { maxEntries: 1000, maxBytes: 1024 * 1024 });
    // Room for one message at a time: without the hold limit the stuck user's message would keep it forever.
    const w = worker(configWith('p-gate-stuck', [sync('gate-stuck-1', 'p-gate-stuck', { sendUsers: false })]), {
      profiles,
      metrics,
      maxWorkingBytes: 1,
      workHoldLimitMs: 200,
    });
    // The stuck user's events first: their read is failing before the others arrive.
    await ingest('p-gate-stuck', [0, 1].map((n) => ({ event_type: 'Tick', user_id: stuck, time: Date.now(), event_properties: { n } })), 'gate-stuck-a');
    await w.start();
    await waitFor(async () => ((await metrics.stepRetries.get()).values.find((v) => v.labels.step === 'load')?.value ?? 0) >= 1, 'the read to be retried');
    await ingest('p-gate-stuck', others.map((user_id, n) => ({ event_type: 'Tick', user_id, time: Date.now(), event_properties: { n: 10 + n } })), 'gate-stuck-b');
    await waitFor(async () => (await jobsOf('p-gate-stuck')).length === others.length, 'the other users’ events delivered', 60_000);
    expect((await jobsOf('p-gate-stuck')).map((j) => (j.payload as TrackPayload).properties!.n).sort((a, b) => Number(a) - Number(b))).toEqual(others.map((_, n) => 10 + n));
    // The stuck user's events are still unacked (retried in place), nothing of theirs delivered.
    expect(await ackPending(stuck!)).toBe(2);
    expect(((await metrics.stepRetries.get()).values.find((v) => v.labels.step === 'load')?.value ?? 0)).toBeGreaterThan(0);
    expect((await metrics.messagesOverdue.get()).values[0]?.value).toBeGreaterThanOrEqual(1);
  });

  it('the profile cache keeps to FILTER_PROFILE_CACHE_BYTES and reads what it let go from KV', async () => {
    const store = new ProfileStore(profilesKv, { maxEntries: 1000, maxBytes: 40_000 });
    const profile = (i: number): ProfileEntry => ({ v: 1, properties: { i, bio: 'b'.repeat(9_000) }, lastSeq: i, identified: {} });
    for (let i = 0; i < 10; i++) {
      const ref = store.ref('p-cache', `cache-user-${i}`);
      await store.load(ref);
      await (await store.save(ref, profile(i))).stored;
    }
    expect(store.cache.bytes).toBeLessThanOrEqual(40_000);
    expect(store.cache.size).toBe(4);
    for (let i = 0; i < 10; i++) expect(await store.load(store.ref('p-cache', `cache-user-${i}`))).toEqual(profile(i));
    expect(store.cache.bytes).toBeLessThanOrEqual(40_000);
  });

  it('refuses to start with a profile bound that does not fit the server max_payload, naming the setting', async () => {
    const entry = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const child = spawn(process.execPath, [entry], {
      env: {
        ...process.env,
        NATS_URL,
        NATS_NAMESPACE: `${topology.namespace}_start`,
        FILTER_PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        FILTER_PROFILE_MAX_BYTES: String(bus.nc.info!.max_payload),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(output).toContain(`FILTER_PROFILE_MAX_BYTES=${bus.nc.info!.max_payload} does not fit the NATS server's max_payload`);
    for await (const name of bus.jsm.streams.names()) {
      if (name.startsWith(`${topology.namespace}_start`.toUpperCase())) await bus.jsm.streams.delete(name);
    }
  });
});
