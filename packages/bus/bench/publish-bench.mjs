// CPU per published message of the lean publisher (LeanPublisher over nats.js, socket writes
// coalesced as in the services): N messages with headers (`Nats-Msg-Id` and a traceparent, as
// ingest and the filter publish them) to a stream of its own on the shared NATS, WINDOW publishes
// issued per event-loop turn and awaited together. Reports this process's CPU (user + system)
// per message over the measured messages; the warm-up messages before them are not counted.
//
//   npm run build -w @inkstream/bus && node packages/bus/bench/publish-bench.mjs
//
// Environment:
//   N=50000 measured messages; WARMUP=10000; BYTES=6000 payload bytes; WINDOW=64 per turn;
//   ROUNDS=3 runs in this process (each its own stream).
//   BUS_DIST=dir   the built bus to measure (default: this checkout's dist), for A/B against a
//                  baseline worktree's build.
//   PROF=file      CPU profile of the measured messages of the last round (.cpuprofile).
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { headers as natsHeaders } from '@nats-io/transport-node';

const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(process.env.BUS_DIST ?? join(here, '../dist'));
const { LeanPublisher, connectBus } = await import(join(dist, 'index.js'));

const N = Number(process.env.N ?? 50_000);
const WARMUP = Number(process.env.WARMUP ?? 10_000);
const BYTES = Number(process.env.BYTES ?? 6000);
const WINDOW = Number(process.env.WINDOW ?? 64);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const quiet = { info() {}, warn() {}, error() {} };

const bus = await connectBus({ url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', name: 'publish-bench', logger: quiet });
const payload = randomBytes(BYTES);
const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
const results = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const stream = `BENCH_PUB_${randomBytes(4).toString('hex').toUpperCase()}`;
    const prefix = stream.toLowerCase();
    await bus.jsm.streams.add({ name: stream, subjects: [`${prefix}.>`], storage: 'memory', max_bytes: 256 * 1024 * 1024, discard: 'old' });
    const publisher = new LeanPublisher(bus.nc, 30_000);
    try {
      const publishAll = async (from, to) => {
        for (let i = from; i < to; i += WINDOW) {
          const turn = [];
          for (let j = i; j < Math.min(to, i + WINDOW); j++) {
            const h = natsHeaders();
            h.set('traceparent', traceparent);
            turn.push(publisher.publish(`${prefix}.${j % 16}`, payload, { msgID: `${prefix}-${j}`, headers: h }));
          }
          await Promise.all(turn);
        }
      };
      await publishAll(0, WARMUP);
      const session = process.env.PROF && round === ROUNDS - 1 ? new Session() : undefined;
      if (session) {
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.start');
      }
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await publishAll(WARMUP, WARMUP + N);
      const cpu = process.cpuUsage(cpu0);
      const ms = performance.now() - t0;
      if (session) writeFileSync(process.env.PROF, JSON.stringify((await session.post('Profiler.stop')).profile));
      const row = { round, messages: N, bytes: BYTES, window: WINDOW, cpuUsPerMessage: +((cpu.user + cpu.system) / N).toFixed(2), userUs: +(cpu.user / N).toFixed(2), systemUs: +(cpu.system / N).toFixed(2), messagesPerSecond: Math.round((N * 1000) / ms) };
      results.push(row);
      console.log(JSON.stringify(row));
    } finally {
      publisher.close();
      await bus.jsm.streams.delete(stream).catch(() => undefined);
    }
  }
} finally {
  await bus.close();
}
const median = (key) => {
  const xs = results.map((r) => r[key]).sort((a, b) => a - b);
  return xs.length % 2 ? xs[(xs.length - 1) / 2] : +((xs[xs.length / 2 - 1] + xs[xs.length / 2]) / 2).toFixed(2);
};
// User time apart: the kernel's share (the loopback TCP writes) is the same work either way and varies with the load.
console.log(`${dist}: median ${median('cpuUsPerMessage')} µs CPU per message (user ${median('userUs')}, system ${median('systemUs')}; n ${results.length})`);
