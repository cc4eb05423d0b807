import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connectBus, type Bus } from './connection.js';
import { ConsumerRunner } from './consumer-runner.js';
import { decodeJson, encodeJson } from './codec.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const quiet = { info() {}, warn() {}, error() {} };

describe('ConsumerRunner restoring order after a previous owner', () => {
  const name = `T_RUNNER_${randomBytes(4).toString('hex').toUpperCase()}`;
  const subject = `${name.toLowerCase()}.work`;
  let bus: Bus;

  beforeAll(async () => {
    bus = await connectBus({ url: NATS_URL, name: 'runner-test', logger: quiet });
    await bus.jsm.streams.add({ name, subjects: [`${subject}.>`], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
  });
  afterAll(async () => {
    await bus.jsm.streams.delete(name).catch(() => undefined);
    await bus.close();
  });

  it.each([
    ['work', 1000],
    // Held messages fill max_ack_pending: the dead owner's still come back (redeliveries first).
    ['full', 16],
  ] as const)('hands the crashed owner’s unacknowledged messages over first, all in stream order, once they are back (%s)', async (durable, maxAckPending) => {
    // A short ack_wait: the dead owner's messages come back 2 s after its last heartbeat.
    await bus.jsm.consumers.add(name, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 2_000_000_000,
      max_ack_pending: maxAckPending,
      filter_subject: `${subject}.${durable}`,
    });
    for (let i = 0; i < 40; i++) await bus.js.publish(`${subject}.${durable}`, encodeJson({ i }));

    // The previous owner took 12 messages and died without answering any of them.
    const consumer = await bus.js.consumers.get(name, durable);
    const taken = await consumer.fetch({ max_messages: 12, expires: 2_000 });
    let took = 0;
    for await (const _m of taken) {
      took++;
      if (took === 12) break;
    }
    expect(took).toBe(12);

    const handled: number[] = [];
    const started = Date.now();
    const runner = new ConsumerRunner({
      js: bus.js,
      stream: name,
      durable,
      maxMessages: 8,
      logger: quiet,
      heartbeatMs: 500,
      restoreOrderMs: 60_000,
      onMessage: async (msg) => {
        handled.push(decodeJson<{ i: number }>(msg.data).i);
        msg.ack();
      },
    });
    runner.start();
    const deadline = Date.now() + 30_000;
    while (handled.length < 40 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const tookMs = Date.now() - started;
    await runner.stop();
    expect(handled).toEqual(Array.from({ length: 40 }, (_, i) => i));
    // Back within the ack_wait and a few polls, not after the 60 s limit.
    expect(tookMs).toBeLessThan(20_000);
    const info = await bus.jsm.consumers.info(name, durable);
    expect(info.num_pending + info.num_ack_pending).toBe(0);
  });
});
