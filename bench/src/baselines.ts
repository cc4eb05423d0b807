import Fastify from 'fastify';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { postAsFastAsPossible } from './load.js';

/** A bare fastify server that parses the same body and answers 200: the ingest baseline. */
export async function bareFastifyEventsPerSecond(body: string, eventsPerRequest: number, requests: number): Promise<number> {
  const app = Fastify({ logger: false, bodyLimit: 20_000_000 });
  app.post('/2/httpapi', async (request) => {
    const events = (request.body as { events: unknown[] }).events;
    return { code: 200, events_ingested: events.length, payload_size_bytes: 0, server_upload_time: Date.now() };
  });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const result = await postAsFastAsPossible({ url: `${address}/2/httpapi`, body: () => body, total: requests, connections: 8 });
    return (result.requests * eventsPerRequest * 1000) / result.elapsedMs;
  } finally {
    await app.close();
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
