import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { postAsFastAsPossible } from './load.js';

/** A running bare fastify server (bare-fastify-server.ts) in its own process. */
export interface BareFastify {
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * Starts the ingest baseline, a bare fastify server that parses the same JSON body and answers
 * 200, as its own process launched like the services (node --enable-source-maps), so that it
 * and ingest each get their own event loop beside the load generator.
 */
export async function startBareFastify(): Promise<BareFastify> {
  const script = fileURLToPath(new URL('./bare-fastify-server.js', import.meta.url));
  const child = spawn(process.execPath, ['--enable-source-maps', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const match = /listening (\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`bare fastify server exited (${code}) before listening`)));
  });
  return {
    url,
    pid: child.pid,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * Events per second the bare fastify server takes: `bodies` posted to `path` with the same load
 * generator and connections as the ingest run, after a warm-up of `warmUp` requests.
 */
export async function bareFastifyEventsPerSecond(options: {
  path: string;
  bodies: readonly string[];
  warmUp: readonly string[];
  eventsPerRequest: number;
  connections: number;
}): Promise<number> {
  const bare = await startBareFastify();
  try {
    const url = `${bare.url}${options.path}`;
    await postAsFastAsPossible({ url, body: (i) => options.warmUp[i]!, total: options.warmUp.length, connections: options.connections });
    const result = await postAsFastAsPossible({ url, body: (i) => options.bodies[i]!, total: options.bodies.length, connections: options.connections });
    return (result.requests * options.eventsPerRequest * 1000) / result.elapsedMs;
  } finally {
    await bare.stop();
  }
}

/**
 * Raw JetStream: publish `count` messages of `size` bytes and consume them with acks — the
 * least any pipeline on this NATS can cost per message: the batch-mode baseline.
 */
export async function rawJetStreamMessagesPerSecond(natsUrl: string, count: number, size: number): Promise<number> {
  const nc = await connect({ servers: natsUrl, noAsyncTraces: true });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const name = `BENCH_RAW_${process.pid}`;
  await jsm.streams.add({ name, subjects: [`bench.raw.${process.pid}`] });
  await jsm.consumers.add(name, { durable_name: 'raw', ack_policy: AckPolicy.Explicit, max_ack_pending: 10_000 });
  const data = new Uint8Array(size).fill(97);
  try {
    const started = performance.now();
    const consumer = await js.consumers.get(name, 'raw');
    let consumed = 0;
    const done = new Promise<void>((resolve) => {
      void consumer.consume({
        max_messages: 2000,
        callback: (m) => {
          m.ack();
          if (++consumed === count) resolve();
        },
      });
    });
    const window: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) {
      window.push(js.publish(`bench.raw.${process.pid}`, data));
      if (window.length >= 1000) await Promise.all(window.splice(0));
    }
    await Promise.all(window);
    await done;
    return (count * 1000) / (performance.now() - started);
  } finally {
    await jsm.streams.delete(name).catch(() => undefined);
    await nc.close();
  }
}
