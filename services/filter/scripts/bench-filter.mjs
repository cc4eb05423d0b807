// Drives one FilterWorker (built: dist/) with N events over U users × S syncs, sent as v2 ingest
// segments of up to R records per partition, and reports the filter's CPU per payload and the
// number of delivery messages. Uses the NATS at NATS_URL (a fresh namespace, deleted after).
//   node scripts/bench-filter.mjs [events=20000] [users=500] [syncs=2] [recordsPerRequest=100]
// Profile writes go through the lean writer and reads through the lean reader, as in the service (index.ts). FILTER_DIST picks another
// build (e.g. a baseline worktree's dist). PROF=<file> writes a CPU profile of the measured phase
// (worker start until every ingest message is acked) to <file> (.cpuprofile, for DevTools).
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver } from 'node:perf_hooks';
import { ConfigView, LeanPublisher, connectBus, createTopology, declareStreams, encodeJson, partitionOf } from '@inkstream/bus';
import { DEFAULT_DELIVERY_SETTINGS } from '@inkstream/contracts';
import { createLogger, createMetricsRegistry } from '@inkstream/service-kit';
const DIST = process.env.FILTER_DIST ?? '../dist';
const { FilterWorker } = await import(`${DIST}/filter-worker.js`);
const { createFilterMetrics } = await import(`${DIST}/metrics.js`);
const { ProfileStore } = await import(`${DIST}/profile-store.js`);
const { openLeanProfileWriter } = await import(`${DIST}/profile-writer.js`);
// Builds before the lean reader read profiles with kv.get.
const { openLeanProfileReader } = await import(`${DIST}/profile-reader.js`).catch(() => ({}));

const [N = 20000, U = 500, S = 2, R = 100] = process.argv.slice(2).map(Number);
// SHAPE=bench: the events of `npm run bench` (bench/src/events.ts: ~500 bytes, plan changes in two events of three).
const SHAPE = process.env.SHAPE ?? 'simple';
const logger = createLogger('bench', 'silent');
const topology = createTopology({ namespace: `bench_filter_${randomBytes(4).toString('hex')}` });
const bus = await connectBus({ url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', name: 'bench-filter', logger });
try {
  await declareStreams(bus.jsm, topology);
  const profilesKv = await bus.kvm.create(topology.buckets.profiles.name, { history: 1 });
  const leasesKv = await bus.kvm.create(topology.buckets.filterLeases.name, { history: 1, ttl: topology.buckets.filterLeases.ttl });
  const config = new ConfigView(logger);
  config.apply({ kind: 'project', id: 'p1', name: 'p', apiKeyHash: 'h', version: 1, deleted: false, updatedAt: '' });
  for (let s = 0; s < S; s++) {
    config.apply({
      kind: 'sync', id: `sync-${s}`, projectId: 'p1', name: 's', enabled: true, endpointUrl: 'https://example.com', authorizationSealed: 'v1.x',
      sendEvents: true, eventFilters: [{ eventType: '*' }], eventProperties: SHAPE === 'bench' ? ['product_id', 'price', 'categories'] : ['n', 'page'], sendUsers: s === 0, userProperties: ['plan'],
      delivery: DEFAULT_DELIVERY_SETTINGS, version: 1, deleted: false, updatedAt: '',
    });
  }
  // Requests of R events, each split per partition into v2 segments (as ingest does).
  let msgs = 0;
  const now = Date.now();
  for (let start = 0; start < N; start += R) {
    const byPartition = new Map();
    for (let i = start; i < Math.min(N, start + R); i++) {
      const user = `user-${i % U}`;
      const event = SHAPE === 'bench'
        ? { user_id: user, device_id: `bench-device-${i % U}-7f3a9c2e`, event_type: i % 5 === 0 ? 'Order Completed' : 'Product Viewed', time: now, insert_id: `e-${i}`,
            platform: 'Web', os_name: 'Chrome', country: 'United States',
            event_properties: { product_id: `sku-${i % 997}`, price: 10 + (i % 90) + 0.99, categories: ['shoes', 'sale'], name: 'Lightweight running shoe with breathable mesh', url: `https://shop.example.com/p/sku-${i % 997}` },
            user_properties: { $set: { plan: i % 3 === 0 ? 'pro' : 'free', email: `user${i % U}@example.com` } } }
        : { event_type: 'Page Viewed', user_id: user, time: now, insert_id: `e-${i}`, event_properties: { n: i, page: '/home' }, user_properties: { $set: { plan: 'pro' } } };
      const p = partitionOf(user);
      if (!byPartition.has(p)) byPartition.set(p, []);
      byPartition.get(p).push({ kind: 'event', eventKey: `e-${i}`, userKey: user, event });
    }
    for (const [p, records] of byPartition) {
      await bus.js.publish(topology.subjects.ingest(p), encodeJson({ v: 2, projectId: 'p1', receivedAt: now, records }), { msgID: `m-${msgs++}` });
    }
  }
  const worker = new FilterWorker({
    bus, topology, config,
    profiles: new ProfileStore(profilesKv, {
      writer: await openLeanProfileWriter(profilesKv, new LeanPublisher(bus.nc)),
      ...(openLeanProfileReader ? { reader: await openLeanProfileReader(profilesKv, bus.nc) } : {}),
      maxEntries: 100_000, maxBytes: 256 * 1024 * 1024 }),
    metrics: createFilterMetrics(createMetricsRegistry('filter')), logger, maxInFlight: Number(process.env.MAX_IN_FLIGHT ?? 256), ...(process.env.WORKING_BYTES ? { maxWorkingBytes: Number(process.env.WORKING_BYTES) } : {}), leases: leasesKv, replicaId: 'bench',
  });
  const session = process.env.PROF || process.env.HEAP_PROF ? new Session() : undefined;
  if (session) session.connect();
  if (process.env.PROF) {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  // HEAP_PROF=<file>: a sampling heap profile of everything allocated in the measured phase (also
  // what was collected since), for `node heapprof`-style summaries or DevTools (.heapprofile).
  if (process.env.HEAP_PROF) {
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: !process.env.HEAP_LIVE, includeObjectsCollectedByMinorGC: !process.env.HEAP_LIVE && !process.env.HEAP_PROMOTED });
  }
  // GC pauses of the measured phase (scavenges and mark-compacts), ms.
  let gcMs = 0;
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await worker.start();
  const acked = async () => {
    for (let p = 0; p < 16; p++) {
      const info = await bus.jsm.consumers.info(topology.streams.ingest.name, topology.consumers.filter(p).durable_name).catch(() => null);
      if (!info || info.num_pending > 0 || info.num_ack_pending > 0) return false;
    }
    return true;
  };
  while (!(await acked())) await new Promise((r) => setTimeout(r, 100));
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  gcObserver.disconnect();
  if (process.env.PROF) writeFileSync(process.env.PROF, JSON.stringify((await session.post('Profiler.stop')).profile));
  if (process.env.HEAP_PROF) writeFileSync(process.env.HEAP_PROF, JSON.stringify((await session.post('HeapProfiler.stopSampling')).profile));
  await worker.stop();
  const delivery = await bus.jsm.streams.info(topology.streams.delivery.name);
  // Payloads: each event gives one track per sync, plus one identify (sync-0) per user (SHAPE=bench:
  // per event whose plan differs from the user's previous one).
  let identifies = Math.min(U, N);
  if (SHAPE === 'bench') {
    const last = new Map();
    identifies = 0;
    for (let i = 0; i < N; i++) {
      const plan = i % 3 === 0 ? 'pro' : 'free';
      if (last.get(i % U) !== plan) identifies++;
      last.set(i % U, plan);
    }
  }
  const payloads = N * S + identifies;
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(JSON.stringify({
    shape: SHAPE, events: N, users: U, syncs: S, recordsPerRequest: R, ingestMessages: msgs, payloads,
    deliveryMessages: delivery.state.messages, deliveryBytes: delivery.state.bytes,
    startedAtMs: Math.round(t0), wallMs: Math.round(wall), cpuMs: Math.round(cpuMs), gcMs: Math.round(gcMs), cpuUsPerPayload: +((cpuMs * 1000) / payloads).toFixed(1), cpuUsPerEvent: +((cpuMs * 1000) / N).toFixed(1),
    payloadsPerSecWall: Math.round(payloads / (wall / 1000)),
    maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  }));
} finally {
  for await (const name of bus.jsm.streams.names()) if (name.includes(topology.namespace) || name.startsWith(topology.namespace.toUpperCase())) await bus.jsm.streams.delete(name).catch(() => undefined);
  await bus.close();
}
