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
    const runner = orderedRunner(bus, name, durable, 8, handled);
    runner.start();
    const deadline = Date.now() + 30_000;
    while (handled.length < 40 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const tookMs = Date.now() - started;
    await runner.stop();
    expect(handled).toEqual(Array.from({ length: 40 }, (_, i) => i));
    // Back within the ack_wait and a few polls, not after the 60 s limit.
    expect(tookMs).toBeLessThan(50_000);
    await expectAllAcked(bus, name, durable);
  });

  it('holds what follows a delivery lost in transit until it comes back, then keeps stream order', async () => {
    const durable = 'lost';
    await bus.jsm.consumers.add(name, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 2_000_000_000,
      max_ack_pending: 1000,
      filter_subject: `${subject}.${durable}`,
    });
    const handled: number[] = [];
    const runner = orderedRunner(bus, name, durable, 8, handled);
    runner.start();
    // The runner works the consumer: a first batch goes through.
    for (let i = 0; i < 5; i++) await bus.js.publish(`${subject}.${durable}`, encodeJson({ i }));
    await until(() => handled.length === 5);
    expect(runner.orderRestores).toBe(0);

    // A delivery the server makes that never reaches the runner (a pull answered while the
    // connection drops, a consumer leader change): here a second pull, waiting before the
    // runner's next one, takes message 5 and never answers it.
    const consumer = await bus.js.consumers.get(name, durable);
    await runner.stop();
    const lost = await consumer.fetch({ max_messages: 1, expires: 10_000 });
    const lostDone = (async () => {
      for await (const m of lost) return decodeJson<{ i: number }>(m.data).i;
      return undefined;
    })();
    const next = orderedRunner(bus, name, durable, 8, handled);
    next.start();
    // Attached (and its consume loop pulling) before anything is published.
    await until(() => (next as unknown as { messages?: unknown }).messages !== undefined);
    expect(next.restoringOrder).toBe(false);
    for (let i = 5; i < 15; i++) await bus.js.publish(`${subject}.${durable}`, encodeJson({ i }));
    expect(await lostDone).toBe(5);
    // Message 5 comes back after ack_wait (2 s); 6.. must not be handled before it.
    await until(() => handled.length === 15);
    await next.stop();
    expect(handled).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(next.orderRestores).toBe(1);
    await expectAllAcked(bus, name, durable);
  });

  it('restores order on a re-attach that finds unacknowledged messages it does not hold', async () => {
    const durable = 'reattach';
    await bus.jsm.consumers.add(name, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 2_000_000_000,
      max_ack_pending: 1000,
      filter_subject: `${subject}.${durable}`,
    });
    const handled: number[] = [];
    const runner = orderedRunner(bus, name, durable, 4, handled);
    runner.start();
    await until(() => (runner as unknown as { messages?: unknown }).messages !== undefined);
    // Someone else takes 0..2 and never answers; then the runner's consume loop ends and it
    // re-attaches: it must wait for them rather than hand out 3.. first.
    for (let i = 0; i < 3; i++) await bus.js.publish(`${subject}.${durable}`, encodeJson({ i }));
    await until(() => handled.length === 3);
    const consumer = await bus.js.consumers.get(name, durable);
    // Make the runner's loop end, as a lost connection or deleted pull would.
    const internal = runner as unknown as { messages: { close(): Promise<void> } };
    const taker = consumer.fetch({ max_messages: 3, expires: 10_000 });
    await internal.messages.close();
    for (let i = 3; i < 9; i++) await bus.js.publish(`${subject}.${durable}`, encodeJson({ i }));
    const taken: number[] = [];
    for await (const m of await taker) {
      taken.push(decodeJson<{ i: number }>(m.data).i);
      if (taken.length === 3) break;
    }
    expect(taken).toEqual([3, 4, 5]);
    await until(() => handled.length === 9);
    await runner.stop();
    expect(handled).toEqual(Array.from({ length: 9 }, (_, i) => i));
    expect(runner.orderRestores).toBeGreaterThanOrEqual(1);
  });
});

async function until(check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Acks are applied by the server asynchronously: wait (bounded) until the consumer has none left. */
async function expectAllAcked(bus: Bus, stream: string, durable: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const info = await bus.jsm.consumers.info(stream, durable);
    if (info.num_pending + info.num_ack_pending === 0 || Date.now() > deadline) {
      expect(info.num_pending + info.num_ack_pending).toBe(0);
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A runner that restores order (up to 60 s), records each message's `i` in `handled` and acks it. */
function orderedRunner(bus: Bus, stream: string, durable: string, maxMessages: number, handled: number[]): ConsumerRunner {
  return new ConsumerRunner({
    js: bus.js,
    stream,
    durable,
    maxMessages,
    logger: quiet,
    heartbeatMs: 500,
    restoreOrderMs: 60_000,
    onMessage: async (msg) => {
      handled.push(decodeJson<{ i: number }>(msg.data).i);
      msg.ack();
    },
  });
}
