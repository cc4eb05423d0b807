import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { MovableInkStandIn, Stack, waitFor, type ServiceName } from '@inkstream/testing';
import { bareFastifyEventsPerSecond, rawJetStreamMessagesPerSecond } from './baselines.js';
import { eventBatch, requestBody } from './events.js';
import { postAsFastAsPossible, postAtRate } from './load.js';
import { messageIdFor } from '@inkstream/movable-ink';
import { formatRow, phasesFrom, type Row } from './report.js';

/**
 * `npm run bench`: the performance targets of spec/operations.md, each printed beside a baseline
 * measured in the same run on the same machine, so the ratio means something on a noisy box.
 * Sizes can be shrunk for a quick look: BENCH_SCALE=0.2, BENCH_OUTAGE_SECONDS=60.
 * BENCH_ONLY=ingest,e2e1,e2e100,latency,memory: run only those phases (latency needs e2e1's rate:
 * it brings e2e1 along).
 * BENCH_CPU_PROFILE_DIR=<dir>: a CPU profile of each service's run is written there.
 * BENCH_SERVICE_ENV="K=V,…": extra environment for the services.
 * BENCH_LATENCY_RATE=<events/s>: the latency phase's rate (default half the batchSize-1 rate), to
 * compare versions at one rate.
 */
const scale = Number(process.env.BENCH_SCALE ?? '1');
const outageSeconds = Number(process.env.BENCH_OUTAGE_SECONDS ?? '600');
const phases = phasesFrom(process.env.BENCH_ONLY);
const latencyRate = process.env.BENCH_LATENCY_RATE === undefined ? undefined : Number(process.env.BENCH_LATENCY_RATE);
if (latencyRate !== undefined && !(latencyRate > 0)) throw new Error(`BENCH_LATENCY_RATE must be a positive number of events/s, not ${process.env.BENCH_LATENCY_RATE}`);
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const runId = `b${Date.now().toString(36)}`;

const rows: Row[] = [];

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Busy and total jiffies of the whole machine (all cores), from /proc/stat. */
function machineJiffies(): { busy: number; total: number } {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = cpu.reduce((a, b) => a + b, 0);
    const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

/** The local nats-server the stack uses (the one listening on NATS_URL's port), if it can be found. */
function natsServerPid(): number | undefined {
  const port = Number(new URL(NATS_URL).port || 4222);
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'nats-server') continue;
        const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        const at = cmdline.findIndex((a) => a === '-p' || a === '--port' || a === '-port');
        const listens = at >= 0 ? Number(cmdline[at + 1]) : 4222;
        if (listens === port) return Number(entry);
      } catch {
        // gone, or not ours to read
      }
    }
  } catch {
    // no /proc
  }
  return undefined;
}

const SERVICES: ServiceName[] = ['ingest', 'filter', 'delivery', 'config'];
const cpuNotes: string[] = [];

function rssMb(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

async function main(): Promise<void> {
  console.log(`bench phases: ${[...phases].join(', ')} (BENCH_SCALE ${scale})`);
  const deliveredAt = new Map<string, number>();
  // Lean: the stand-in reads only each payload's message_id (no JSON.parse, no per-user
  // bookkeeping); a real endpoint's work is not on this machine.
  const standIn = new MovableInkStandIn({
    record: false,
    onMessageIds: (ids, at) => {
      for (const id of ids) if (!deliveredAt.has(id)) deliveredAt.set(id, at);
    },
  });
  let outage = false;
  standIn.respondWith(() => (outage ? { status: 503 } : { status: 200 }));
  const endpoint = await standIn.start();
  // BENCH_CPU_PROFILE_DIR: every service writes a CPU profile of its run there (cpu-profile.ts).
  const profileDir = process.env.BENCH_CPU_PROFILE_DIR;
  const profiling: Record<string, string> = profileDir
    ? { NODE_OPTIONS: `--import ${new URL('./cpu-profile.js', import.meta.url).href}`, INKSTREAM_CPU_PROFILE_DIR: resolve(profileDir) }
    : {};
  // BENCH_SERVICE_ENV="K=V,K2=V2": extra environment for the services (experiments, e.g. OTEL_SDK_DISABLED=true).
  const extraEnv = Object.fromEntries(
    (process.env.BENCH_SERVICE_ENV ?? '')
      .split(',')
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')).trim(), kv.slice(kv.indexOf('=') + 1).trim()]),
  );
  const stack = new Stack({ env: { LOG_LEVEL: 'warn', ...profiling, ...extraEnv } });
  await stack.start();
  try {
    const project = await stack.admin('POST', '/v1/projects', { name: 'Bench' });
    const apiKey = project.body.apiKey as string;
    const createSync = async (batchSize: number) => {
      const sync = await stack.admin('POST', `/v1/projects/${project.body.id}/syncs`, {
        name: `bench-${batchSize}`,
        endpointUrl: `${endpoint}/behavioral/bench`,
        authorization: 'Basic YmVuY2g6YmVuY2g=',
        eventFilters: [{ eventType: '*' }],
        eventProperties: ['product_id', 'price', 'categories'],
        userProperties: ['plan'],
        delivery: { batchSize, maxConcurrency: 32 },
      });
      return sync.body.id as string;
    };
    const setEnabled = (id: string, enabled: boolean) => stack.admin('PATCH', `/v1/syncs/${id}`, { enabled });
    const activeSyncs = async (n: number) => {
      for (const s of ['filter', 'delivery'] as ServiceName[]) {
        await waitFor(async () => (await stack.metric(s, 'inkstream_config_syncs', { active: 'true' })) === n, `${s} to see ${n} active syncs`);
      }
    };
    await waitFor(async () => (await stack.metric('ingest', 'inkstream_config_projects')) >= 1, 'ingest to know the key');

    const BATCH = 200;
    const USERS = 5_000;
    let offset = 0;
    const bodies = (requests: number) => {
      const start = offset;
      offset += requests * BATCH;
      return (i: number) => requestBody(apiKey, eventBatch(BATCH, USERS, start + i * BATCH, runId));
    };
    /** `requests` bodies built before the clock starts, so building them costs the measured run nothing. */
    const builtBodies = (requests: number, key = apiKey, id = runId) => {
      const start = offset;
      offset += requests * BATCH;
      return Array.from({ length: requests }, (_, i) => requestBody(key, eventBatch(BATCH, USERS, start + i * BATCH, id)));
    };

    // 1. Ingest throughput, beside a bare fastify server (its own process, like ingest) parsing
    // the same bodies, posted by the same load generator with the same connections, each after
    // the same warm-up. Bodies are built before either run starts.
    if (phases.has('ingest')) {
      const ingestRequests = Number(process.env.BENCH_INGEST_REQUESTS ?? Math.round(300 * scale));
      const warmUpRequests = Math.max(10, Math.round(ingestRequests / 10));
      const CONNECTIONS = 8;
      const PATH = '/2/httpapi';
      const bare = await bareFastifyEventsPerSecond({
        path: PATH,
        bodies: builtBodies(ingestRequests, apiKey, `${runId}-bare`),
        warmUp: builtBodies(warmUpRequests, apiKey, `${runId}-bare`),
        eventsPerRequest: BATCH,
        connections: CONNECTIONS,
      });
      const warmUp = builtBodies(warmUpRequests);
      const measuredBodies = builtBodies(ingestRequests);
      const url = stack.url('ingest', PATH);
      await postAsFastAsPossible({ url, body: (i) => warmUp[i]!, total: warmUp.length, connections: CONNECTIONS });
      const pid = stack.pidOf('ingest');
      const others = { ...Object.fromEntries(SERVICES.filter((s) => s !== 'ingest').map((s) => [s, stack.pidOf(s)])), 'nats-server': natsServerPid() };
      const othersBefore = Object.values(others).map(cpuSeconds);
      const benchBefore = process.cpuUsage();
      const machineBefore = machineJiffies();
      const cpuBefore = cpuSeconds(pid);
      const ingest = await postAsFastAsPossible({ url, body: (i) => measuredBodies[i]!, total: ingestRequests, connections: CONNECTIONS });
      const ingestCpu = cpuSeconds(pid) - cpuBefore;
      const bench = process.cpuUsage(benchBefore);
      const machineAfter = machineJiffies();
      const machineBusy = (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total);
      const share = (seconds: number) => `${Math.round((seconds * 100_000) / ingest.elapsedMs)} %`;
      const othersNote = Object.keys(others)
        .map((name, i) => `${name} ${share(cpuSeconds(Object.values(others)[i]) - othersBefore[i]!)}`)
        .concat(`load generator ${share((bench.user + bench.system) / 1e6)}`, `whole machine busy ${Math.round(machineBusy * 100)} % of its ${os.cpus().length} cores`)
        .join(', ');
      const events = ingest.requests * BATCH;
      const ingestRate = (events * 1000) / ingest.elapsedMs;
      const bareText = `bare fastify ${Math.round(bare).toLocaleString('en')} events/s`;
      rows.push({
        figure: 'ingest, events/s accepted (batches of 200 × ~500 B)',
        measured: ingestRate,
        unit: 'events/s',
        target: 60_000,
        atLeast: true,
        baseline: bareText,
        pass: ingestRate >= 60_000,
      });
      rows.push({
        figure: 'ingest ÷ bare fastify (same run)',
        measured: ingestRate / bare,
        unit: 'ratio',
        target: 0.5,
        atLeast: true,
        baseline: bareText,
        pass: ingestRate / bare >= 0.5,
      });
      cpuNotes.push(
        `ingest run, ${(ingest.elapsedMs / 1000).toFixed(1)} s, ${events.toLocaleString('en')} events: ingest ${Math.round((ingestCpu * 100_000) / ingest.elapsedMs)} % ` +
          `(${((ingestCpu * 1e6) / events).toFixed(1)} µs CPU per event)${ingest.failed > 0 ? `, ${ingest.failed} requests refused and retried` : ''}; ` +
          othersNote,
      );
      // Let the pipeline drain what ingest accepted before a later phase measures it (no sync was
      // enabled: nothing is delivered).
      if (phases.size > 1) {
        await waitFor(
          async () => (await stack.metric('filter', 'inkstream_filter_records_total')) >= (ingestRequests + warmUpRequests) * BATCH,
          'filter to catch up',
          600_000,
          500,
        );
      }
    }

    // 2. End to end, batchSize 1.
    const e2e = async (batchSize: number, events: number) => {
      const id = await createSync(batchSize);
      await setEnabled(id, true);
      await activeSyncs(1);
      const before = deliveredAt.size;
      const requests = Math.ceil(events / BATCH);
      // Built before the clock starts, as for the ingest run.
      const built = builtBodies(requests);
      const natsPid = natsServerPid();
      const cpuBefore = SERVICES.map((x) => cpuSeconds(stack.pidOf(x)));
      const natsBefore = cpuSeconds(natsPid);
      const benchBefore = process.cpuUsage();
      const machineBefore = machineJiffies();
      const t0 = Date.now();
      await postAsFastAsPossible({ url: stack.url('ingest', '/batch'), body: (i) => built[i]!, total: requests, connections: 4 });
      await waitFor(() => deliveredAt.size - before >= requests * BATCH, `${events} payloads delivered (batchSize ${batchSize})`, 900_000, 200);
      const seconds = (Date.now() - t0) / 1000;
      const rate = (deliveredAt.size - before) / seconds;
      // Where the time went: CPU share of each service during the run (2 cores = 200 %).
      const bench = process.cpuUsage(benchBefore);
      const machineAfter = machineJiffies();
      const machineBusy = (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total);
      cpuNotes.push(
        `batchSize ${batchSize}, ${seconds.toFixed(1)} s: ` +
          SERVICES.map((x, i) => `${x} ${Math.round(((cpuSeconds(stack.pidOf(x)) - cpuBefore[i]!) / seconds) * 100)} %`).join(', ') +
          `, nats-server ${Math.round(((cpuSeconds(natsPid) - natsBefore) / seconds) * 100)} %` +
          `, load generator + stand-in ${Math.round(((bench.user + bench.system) / 1e6 / seconds) * 100)} %` +
          `, whole machine busy ${Math.round(machineBusy * 100)} % of its ${os.cpus().length} cores`,
      );
      await setEnabled(id, false);
      await activeSyncs(0);
      return { id, rate };
    };
    let single: { id: string; rate: number } | undefined;
    if (phases.has('e2e1')) {
      single = await e2e(1, Math.round(40_000 * scale));
      rows.push({
        figure: 'end to end, payloads/s delivered, batchSize 1',
        measured: single.rate,
        unit: 'payloads/s',
        target: 5_000,
        atLeast: true,
        baseline: 'RudderStack published 1,700 events/s on 2 cores',
        pass: single.rate >= 5_000,
      });
    }

    // 3. End to end, batchSize 100, beside raw JetStream publish + consume.
    if (phases.has('e2e100')) {
      const raw = await rawJetStreamMessagesPerSecond(NATS_URL, Math.round(100_000 * scale), 500);
      const batched = await e2e(100, Math.round(100_000 * scale));
      rows.push({
        figure: 'end to end, payloads/s delivered, batchSize 100',
        measured: batched.rate,
        unit: 'payloads/s',
        target: 25_000,
        atLeast: true,
        baseline: `raw JetStream publish+consume ${Math.round(raw).toLocaleString('en')} msg/s (ratio ${(batched.rate / raw).toFixed(2)})`,
        pass: batched.rate >= 25_000,
      });
    }

    // 4. Latency ingest ack → delivered, at half the batchSize-1 rate, 10 events per request.
    if (phases.has('latency') && single) {
      await setEnabled(single.id, true);
      await activeSyncs(1);
      const PER_REQUEST = 10;
      const eventsPerSecond = latencyRate ?? single.rate / 2;
      const latencyRequests = Math.max(50, Math.round(((eventsPerSecond * 20) / PER_REQUEST) * Math.min(1, scale)));
      const latencyStart = offset;
      offset += latencyRequests * PER_REQUEST;
      const requestOf = new Map<string, number>();
      const singleId = single.id;
      const latencyBody = (i: number) => {
        const events = eventBatch(PER_REQUEST, USERS, latencyStart + i * PER_REQUEST, runId);
        for (const e of events as Array<{ insert_id: string }>) requestOf.set(messageIdFor(singleId, 'track', `i:${e.insert_id}`), i);
        return requestBody(apiKey, events);
      };
      const ackedAt = new Map<number, number>();
      await postAtRate({
        url: stack.url('ingest', '/batch'),
        body: latencyBody,
        total: latencyRequests,
        perSecond: eventsPerSecond / PER_REQUEST,
        onAccepted: (i, at) => ackedAt.set(i, at),
      });
      const latencies = await waitFor(
        () => {
          const out: number[] = [];
          for (const [id, i] of requestOf) {
            const at = deliveredAt.get(id);
            const acked = ackedAt.get(i);
            if (at !== undefined && acked !== undefined) out.push(Math.max(0, at - acked));
          }
          return out.length >= requestOf.size ? out : undefined;
        },
        'latency payloads delivered',
        300_000,
        200,
      );
      const p50 = percentile(latencies, 50);
      const p99 = percentile(latencies, 99);
      rows.push({
        figure: `latency ingest ack → delivered at ${Math.round(eventsPerSecond).toLocaleString('en')} events/s, p50`,
        measured: p50,
        unit: 'ms',
        target: 50,
        atLeast: false,
        baseline: "Amplitude's target p95 ≤ 60 s",
        pass: p50 <= 50,
      });
      rows.push({
        figure: 'latency ingest ack → delivered, p99',
        measured: p99,
        unit: 'ms',
        target: 250,
        atLeast: false,
        baseline: "Amplitude's target p95 ≤ 60 s",
        pass: p99 <= 250,
      });
      await setEnabled(single.id, false);
      await activeSyncs(0);
    }

    // 5. Memory under an endpoint outage: the backlog must grow in JetStream, not in the services.
    if (phases.has('memory')) {
      const samples: Record<string, number[]> = { ingest: [], filter: [], delivery: [], config: [] };
      const syncId = single?.id ?? (await createSync(1));
      await setEnabled(syncId, true);
      await activeSyncs(1);
      outage = true;
      const outageEnd = Date.now() + outageSeconds * 1000;
      while (Date.now() < outageEnd) {
        await postAsFastAsPossible({ url: stack.url('ingest', '/batch'), body: bodies(5), total: 5, connections: 1 });
        for (const s of Object.keys(samples)) samples[s]!.push(rssMb(stack.pidOf(s as ServiceName)));
        await new Promise((r) => setTimeout(r, 10_000));
      }
      outage = false;
      for (const [service, values] of Object.entries(samples)) {
        const third = Math.max(1, Math.floor(values.length / 3));
        const early = Math.max(...values.slice(0, third));
        const late = Math.max(...values.slice(-third));
        const limit = early * 1.2 + 5;
        rows.push({
          figure: `memory of ${service} during a ${outageSeconds} s endpoint outage (RSS, MB)`,
          measured: late,
          unit: 'MB',
          target: limit,
          atLeast: false,
          baseline: `flat: last third ≤ first third (${early.toFixed(0)} MB) + 20 % + 5 MB`,
          pass: late <= limit,
        });
      }
    }
  } finally {
    await stack.stop();
    await standIn.stop();
  }

  const width = Math.max(...rows.map((r) => r.figure.length));
  console.log(`\n  ${'figure'.padEnd(width)}  ${'measured'.padStart(18)}   target       how far from it            | baseline (same run)`);
  for (const r of rows) console.log(formatRow(r, width));
  if (cpuNotes.length > 0) console.log(`\nCPU of the services during the runs (2 cores = 200 %):\n  ${cpuNotes.join('\n  ')}`);
  const dir = join(process.cwd(), '..', 'bench-results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), scale, outageSeconds, phases: [...phases], rows, cpu: cpuNotes }, null, 2));
  console.log(`\nwritten to ${file}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
