// Ingest CPU per accepted event, as `npm run bench`'s ingest phase measures it, without the rest of
// the stack: the built ingest service runs as a child process launched as in production (telemetry
// preloaded, no exporter), against the shared NATS in a namespace of its own, and this process
// posts pre-built bodies like the bench's (200 events of ~500 B, 5,000 users, 8 keep-alive
// connections) to /2/httpapi. Ingest's CPU (user + system, from /proc) is read around the measured
// requests; the warm-up requests before them are not counted.
//
//   npx turbo run build --filter=@inkstream/ingest --filter=@inkstream/bench
//   node services/ingest/bench/ingest-bench.mjs
//
// Environment:
//   ROOTS=/a,/b      checkouts whose built ingest to run (default: this one). With several, each
//                    round runs every root once, the order alternating between rounds (A/B pairs).
//   ROUNDS=3         rounds; REQUESTS=300 measured requests per run; WARMUP=100 requests before.
//   LOG_LEVEL=warn   ingest's log level (the bench runs it at warn).
//   PROFILE_DIR=dir  writes a CPU profile of each run's measured requests only (dir/<label>-<n>.cpuprofile).
//   NODE_ARGS="--max-semi-space-size=64"  extra node options for ingest (experiments).
//
// Needs the built bench package (bench/dist/events.js) and the NATS of the tests (NATS_URL, default
// nats://127.0.0.1:4222); the streams and bucket it creates are deleted at the end of each run.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectBus, createTopology, declareStreams, encodeJson, openConfigBucket } from '@inkstream/bus';
import { createLogger } from '@inkstream/service-kit';
import { Pool } from 'undici';

const here = dirname(fileURLToPath(import.meta.url));
const ownRoot = resolve(here, '../../..');
const { eventBatch, requestBody } = await import(join(ownRoot, 'bench/dist/events.js'));

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const ROOTS = (process.env.ROOTS ?? ownRoot).split(',').map((r) => resolve(r.trim()));
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const REQUESTS = Number(process.env.REQUESTS ?? 300);
const WARMUP = Number(process.env.WARMUP ?? 100);
const LOG_LEVEL = process.env.LOG_LEVEL ?? 'warn';
const PROFILE_DIR = process.env.PROFILE_DIR ? resolve(process.env.PROFILE_DIR) : undefined;
const NODE_ARGS = (process.env.NODE_ARGS ?? '').split(' ').filter(Boolean);
const BATCH = 200;
const USERS = 5_000;
const CONNECTIONS = 8;
const PATH = '/2/httpapi';

const logger = createLogger('ingest-bench', 'warn');
const bus = await connectBus({ url: NATS_URL, name: 'ingest-bench', logger });
const runId = randomBytes(4).toString('hex');
let offset = 0;
const bodies = (apiKey, n) => {
  const start = offset;
  offset += n * BATCH;
  return Array.from({ length: n }, (_, i) => requestBody(apiKey, eventBatch(BATCH, USERS, start + i * BATCH, runId)));
};

const rows = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ROOTS : [...ROOTS].reverse();
    for (const root of order) {
      const row = await run(root, rows.length);
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
} finally {
  await bus.close();
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
for (const root of ROOTS) {
  const mine = rows.filter((r) => r.root === root).map((r) => r.cpuUsPerEvent);
  console.log(`${root}: median ${median(mine).toFixed(2)} µs CPU per event (min ${Math.min(...mine).toFixed(2)}, max ${Math.max(...mine).toFixed(2)}, n ${mine.length})`);
}

async function run(root, n) {
  const namespace = `bench_ing_${randomBytes(4).toString('hex')}`;
  const topology = createTopology({ namespace });
  await declareStreams(bus.jsm, topology);
  const apiKey = randomBytes(16).toString('hex');
  const kv = await openConfigBucket(bus.kvm, topology);
  await kv.put('projects.p1', encodeJson({ kind: 'project', id: 'p1', name: 'bench', apiKeyHash: createHash('sha256').update(apiKey).digest('hex'), version: 1, deleted: false, updatedAt: '' }));
  const warmUp = bodies(apiKey, WARMUP);
  const measured = bodies(apiKey, REQUESTS);
  const port = await freePort();
  const child = spawn(process.execPath, [...NODE_ARGS, '--enable-source-maps', '--import', '@inkstream/telemetry/register', ...(PROFILE_DIR ? ['--import', join(here, 'profile-on-signal.mjs')] : []), join(root, 'services/ingest/dist/index.js')], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      NATS_URL,
      NATS_NAMESPACE: namespace,
      LOG_LEVEL,
      HOST: '127.0.0.1',
      INGEST_PORT: String(port),
      // Nothing reads the stream here: its backlog must not push back.
      INGEST_MAX_BACKLOG_MESSAGES: '0',
      ...(PROFILE_DIR ? { INGEST_BENCH_PROFILE: join(PROFILE_DIR, `${root === ownRoot ? 'own' : 'other'}-${n}.cpuprofile`) } : {}),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  const url = `http://127.0.0.1:${port}`;
  try {
    await ready(url);
    await post(url, warmUp);
    if (PROFILE_DIR) await signalled(child);
    const cpu0 = cpuSeconds(child.pid);
    const t0 = performance.now();
    const { failed } = await post(url, measured);
    const ms = performance.now() - t0;
    const cpu = cpuSeconds(child.pid) - cpu0;
    if (PROFILE_DIR) await signalled(child);
    const events = REQUESTS * BATCH;
    return { root, run: n, events, cpuUsPerEvent: +((cpu * 1e6) / events).toFixed(2), eventsPerSecond: Math.round((events * 1000) / ms), failed };
  } finally {
    child.kill('SIGTERM');
    await exited;
    for await (const name of bus.jsm.streams.names()) if (name.toLowerCase().includes(namespace)) await bus.jsm.streams.delete(name);
  }
}

/** The profile preload starts or stops (and writes) its profile at SIGUSR2; a moment for it to act. */
async function signalled(child) {
  child.kill('SIGUSR2');
  await new Promise((r) => setTimeout(r, 300));
}

async function post(url, list) {
  const pool = new Pool(url, { connections: CONNECTIONS, pipelining: 1 });
  let next = 0;
  let failed = 0;
  const worker = async () => {
    for (let i = next++; i < list.length; i = next++) {
      for (;;) {
        const res = await pool.request({ method: 'POST', path: PATH, headers: { 'content-type': 'application/json' }, body: list[i] });
        const text = await res.body.text();
        if (res.statusCode === 200) break;
        if (res.statusCode !== 503 || ++failed > 100) throw new Error(`ingest answered ${res.statusCode}: ${text}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  await pool.close();
  return { failed };
}

async function ready(url) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/metrics`);
      const text = await res.text();
      if (/^inkstream_config_projects\S* [1-9]/m.test(text)) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('ingest did not start within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}
