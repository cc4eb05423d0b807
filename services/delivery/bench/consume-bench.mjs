// Delivery CPU per payload, v1 jobs (one message per payload) against v2 segments (many payloads
// per message), at batchSize 1 and 100, against a stand-in HTTP endpoint in a child process (its
// CPU is not counted). The stream is filled first; then a delivery service starts in this process
// and the process's CPU time (user + system) is measured until the queue is empty.
//
//   npm run build --workspace @inkstream/delivery
//   node services/delivery/bench/consume-bench.mjs   # env: PAYLOADS=20000 SEGMENT=50 USERS=1000 ROUNDS=2 FORMATS=v1,v2 BATCH_SIZES=1,100
//
// As the service runs (W3C propagation, spans not recorded without an exporter): add
// `--import @inkstream/telemetry/register`. CPU_PROF=<dir> writes a CPU profile of each measured
// phase only (not the fill) to <dir>/delivery-<batchSize>-<format>-<round>.cpuprofile.
// TRACED=1 gives every payload of a v2 segment a traceparent of its own, as the filter does (one
// trace per event), so the per-payload trace context is part of what is measured.
//
// Needs the NATS of the tests (NATS_URL, default nats://127.0.0.1:4222); everything it creates is
// in a namespace of its own and deleted at the end.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { ConfigView, connectBus, createTopology, declareStreams, encodeJson, openBucket } from '@inkstream/bus';
import { DEFAULT_DELIVERY_SETTINGS, encodeDeliverySegment } from '@inkstream/contracts';
import { HttpSender } from '@inkstream/movable-ink';
import { createSecretBox } from '@inkstream/secret-box';
import { createLogger, createMetricsRegistry } from '@inkstream/service-kit';
import { AttemptStore } from '../dist/attempt-store.js';
import { DeliveryService } from '../dist/delivery-service.js';
import { createDeliveryMetrics } from '../dist/metrics.js';
import { OutcomePublisher } from '../dist/outcome-publisher.js';

if (process.argv[2] === 'endpoint') {
  // The stand-in endpoint: 200 to every POST, after reading the body.
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
} else {
  await main();
}

async function main() {
  const PAYLOADS = Number(process.env.PAYLOADS ?? 20_000);
  const SEGMENT = Number(process.env.SEGMENT ?? 50);
  const USERS = Number(process.env.USERS ?? 1_000);
  const ROUNDS = Number(process.env.ROUNDS ?? 2);
  const FORMATS = (process.env.FORMATS ?? 'v1,v2').split(',');
  const BATCH_SIZES = (process.env.BATCH_SIZES ?? '1,100').split(',').map(Number);
  const TRACED = process.env.TRACED === '1';
  const endpointProcess = fork(new URL(import.meta.url).pathname, ['endpoint'], { stdio: 'inherit' });
  const { port } = await new Promise((resolve) => endpointProcess.once('message', resolve));
  const logger = createLogger('delivery-bench', 'warn');
  const topology = createTopology({ namespace: `bench_dlv_${randomBytes(4).toString('hex')}` });
  const bus = await connectBus({ url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', name: 'delivery-bench', logger });
  await declareStreams(bus.jsm, topology);
  const leases = await openBucket(bus.kvm, topology.buckets.deliveryLeases);
  const attemptsKv = await openBucket(bus.kvm, topology.buckets.deliveryAttempts);
  const secrets = createSecretBox(randomBytes(32).toString('hex'));
  const rows = [];
  let n = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const batchSize of BATCH_SIZES) {
        for (const format of FORMATS) {
          const syncId = `bench-${++n}`;
          await fill(bus, topology, syncId, format, PAYLOADS, SEGMENT, USERS, TRACED);
          const config = new ConfigView(logger);
          config.apply({ kind: 'project', id: 'p1', name: 'p', apiKeyHash: 'h', version: 1, deleted: false, updatedAt: '' });
          const sender = new HttpSender({ allowPrivateEndpoints: true, connectionsPerOrigin: 64 });
          const outcomes = new OutcomePublisher(bus, topology, logger);
          const service = new DeliveryService({
            config,
            deps: {
              bus,
              topology,
              sender,
              secrets,
              metrics: createDeliveryMetrics(createMetricsRegistry('delivery')),
              logger,
              attempts: new AttemptStore(attemptsKv),
              outcomes,
              backoff: { baseMs: 10_000, capMs: 600_000 },
            },
            logger,
            leases,
            replicaId: `bench-${n}`,
            leaseTtlMs: 10_000,
          });
          await service.start();
          const profiler = process.env.CPU_PROF ? new Session() : undefined;
          if (profiler) {
            profiler.connect();
            await profiler.post('Profiler.enable');
            await profiler.post('Profiler.start');
          }
          const cpu0 = process.cpuUsage();
          const t0 = performance.now();
          config.apply({
            kind: 'sync',
            id: syncId,
            projectId: 'p1',
            name: 's',
            enabled: true,
            endpointUrl: `http://127.0.0.1:${port}/behavioral/abc`,
            authorizationSealed: secrets.seal('Basic Z29vZDpjcmVkcw=='),
            sendEvents: true,
            eventFilters: [{ eventType: '*' }],
            eventProperties: [],
            sendUsers: false,
            userProperties: [],
            delivery: { ...DEFAULT_DELIVERY_SETTINGS, batchSize, maxConcurrency: 16 },
            version: 1,
            deleted: false,
            updatedAt: '',
          });
          await drained(bus, topology, syncId);
          const ms = performance.now() - t0;
          const cpu = process.cpuUsage(cpu0);
          if (profiler) {
            const { profile } = await profiler.post('Profiler.stop');
            writeFileSync(`${process.env.CPU_PROF}/delivery-${batchSize}-${format}-${round}.cpuprofile`, JSON.stringify(profile));
            profiler.disconnect();
          }
          await service.stop();
          await outcomes.stop();
          await sender.close();
          const cpuUs = cpu.user + cpu.system;
          rows.push({ round, batchSize, format, payloads: PAYLOADS, perSegment: format === 'v2' ? SEGMENT : 1, cpuUsPerPayload: +(cpuUs / PAYLOADS).toFixed(1), userUs: +(cpu.user / PAYLOADS).toFixed(1), systemUs: +(cpu.system / PAYLOADS).toFixed(1), payloadsPerSecond: Math.round(PAYLOADS / (ms / 1000)), wallMs: Math.round(ms) });
          console.log(JSON.stringify(rows.at(-1)));
        }
      }
    }
  } finally {
    for await (const name of bus.jsm.streams.names()) if (name.toLowerCase().includes(topology.namespace)) await bus.jsm.streams.delete(name);
    await bus.close();
    endpointProcess.kill();
  }
  console.table(rows);
}

/** PAYLOADS payloads of USERS users, as v1 jobs or as segments of SEGMENT payloads, published before the measure. */
async function fill(bus, topology, syncId, format, payloads, perSegment, users, traced) {
  const subject = topology.subjects.delivery(syncId, 0);
  let pending = [];
  let inFlight = [];
  const publish = async (data, msgID) => {
    inFlight.push(bus.js.publish(subject, data, { msgID }));
    if (inFlight.length >= 500) {
      await Promise.all(inFlight);
      inFlight = [];
    }
  };
  for (let i = 0; i < payloads; i++) {
    const userKey = `user-${i % users}`;
    const messageId = `${syncId}-${i}`;
    const payload = { type: 'track', event: 'Product Viewed', user_id: userKey, timestamp: Date.now(), message_id: messageId, properties: { seq: i, product_id: 'p-622c6f5d', price: 49.99 } };
    if (format === 'v1') {
      await publish(encodeJson({ v: 1, syncId, projectId: 'p1', payloadType: 'track', messageId, userKey, receivedAt: Date.now(), payload }), messageId);
      continue;
    }
    const head = { messageId, userKey, payloadType: 'track', receivedAt: Date.now() };
    if (traced) head.traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-00`;
    pending.push({ head, json: JSON.stringify(payload) });
    if (pending.length >= perSegment || i === payloads - 1) {
      const head = { v: 2, syncId, projectId: 'p1', payloads: pending.map((p) => p.head) };
      await publish(encodeDeliverySegment(head, pending.map((p) => p.json)), `seg-${messageId}`);
      pending = [];
    }
  }
  await Promise.all(inFlight);
}

async function drained(bus, topology, syncId) {
  const durable = topology.consumers.delivery(syncId).durable_name;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const info = await bus.jsm.consumers.info(topology.streams.delivery.name, durable).catch(() => null);
    if (info && info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.stream_seq > 0) return;
  }
}
