import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, type Bus } from './connection.js';
import { ConsumerLag, type ConsumerRef } from './consumer-lag.js';
import { declareConsumer, declareStreams } from './declare.js';
import { createTopology } from './topology.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const quiet = { info() {}, warn() {}, error() {} };

describe('ConsumerLag with a real NATS', () => {
  const topology = createTopology({ namespace: `t_lag_${randomBytes(4).toString('hex')}` });
  let bus: Bus;

  beforeAll(async () => {
    bus = await connectBus({ url: NATS_URL, name: 'lag-test', logger: quiet });
    await declareStreams(bus.jsm, topology);
  });
  afterAll(async () => {
    for await (const name of bus.jsm.streams.names()) {
      if (name.startsWith(topology.namespace.toUpperCase())) await bus.jsm.streams.delete(name);
    }
    await bus.close();
  });

  it('reports waiting plus unacknowledged messages per owned consumer, read at most once per interval', async () => {
    const stream = topology.streams.ingest.name;
    const owned: ConsumerRef[] = [0, 1].map((p) => ({ stream, durable: topology.consumers.filter(p).durable_name }));
    for (const p of [0, 1]) await declareConsumer(bus.jsm, stream, topology.consumers.filter(p));
    for (let i = 0; i < 3; i++) await bus.js.publish(topology.subjects.ingest(0), new Uint8Array([i]));

    // One message handed out and not acknowledged: it counts as ack pending.
    const consumer = await bus.js.consumers.get(stream, owned[0]!.durable);
    const handedOut = await consumer.next({ expires: 2_000 });
    expect(handedOut).not.toBeNull();

    const lag = new ConsumerLag(bus.jsm, () => [...owned, { stream, durable: 'no-such-consumer' }], 60_000);
    const first = await lag.read();
    expect(first).toEqual([
      { ...owned[0], pending: 2, ackPending: 1 },
      { ...owned[1], pending: 0, ackPending: 0 },
    ]);

    // Within the interval, a scrape gets the same reading without asking JetStream.
    await bus.js.publish(topology.subjects.ingest(1), new Uint8Array([9]));
    expect(await lag.read()).toBe(first);
    const fresh = new ConsumerLag(bus.jsm, () => owned, 0);
    expect((await fresh.read())[1]).toMatchObject({ pending: 1, ackPending: 0 });
    handedOut!.ack();
  });
});
