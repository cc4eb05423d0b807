import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outcomesIn, type DeliveryOutcome, type OutcomeMessage } from '@inkstream/contracts';
import { decodeJson } from './codec.js';
import { connectBus, type Bus } from './connection.js';
import { OutcomeSender, sharedOutcomeSender, stopSharedOutcomeSender } from './outcome-sender.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const quiet = { info() {}, warn() {}, error() {} };

async function waitUntil<T>(what: string, check: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('OutcomeSender', () => {
  const ns = `t_out_${randomBytes(4).toString('hex')}`;
  const stream = ns.toUpperCase();
  const topology = { subjects: { outcome: (syncId: string) => `${ns}.outcome.${syncId}` } } as const;
  let bus: Bus;

  const outcome = (syncId: string, overrides: Partial<DeliveryOutcome> = {}): DeliveryOutcome => ({
    v: 1,
    syncId,
    messageId: 'm',
    payloadType: 'track',
    result: 'delivered',
    status: 200,
    attempt: 1,
    at: Date.now(),
    receivedAt: Date.now() - 20,
    ...overrides,
  });
  const messagesOf = async (syncId: string): Promise<OutcomeMessage[]> => {
    const info = await bus.jsm.streams.info(stream);
    const out: OutcomeMessage[] = [];
    for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
      const m = await bus.jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (m && m.subject === topology.subjects.outcome(syncId)) out.push(decodeJson<OutcomeMessage>(m.data));
    }
    return out;
  };

  beforeAll(async () => {
    bus = await connectBus({ url: NATS_URL, name: 'outcome-sender-test', logger: quiet });
    await bus.jsm.streams.add({ name: stream, subjects: [`${ns}.outcome.>`], duplicate_window: 120_000_000_000 });
  });
  afterAll(async () => {
    await bus?.jsm.streams.delete(stream).catch(() => undefined);
    await bus?.close();
  });

  it('sends N deliveries of a sync as one message with their count', async () => {
    const sender = new OutcomeSender(bus, topology, quiet, { flushEveryMs: 3_600_000 });
    const sync = `s${randomBytes(3).toString('hex')}`;
    for (let i = 0; i < 1_000; i++) sender.outcome(outcome(sync, { messageId: `m${i}` }));
    sender.outcome(outcome(sync, { messageId: 'bad', result: 'rejected', status: 400, error: 'HTTP 400' }));
    await sender.flush();
    const messages = await messagesOf(sync);
    expect(messages).toHaveLength(1);
    const [message] = messages;
    expect(message!.v).toBe(2);
    if (message?.v !== 2) return;
    expect(message.minutes.reduce((n, m) => n + (m.results.delivered ?? 0), 0)).toBe(1_000);
    expect(message.payloads.map((p) => [p.messageId, p.result])).toEqual([['bad', 'rejected']]);
    await sender.stop();
  });

  it('sends on its own about every flush interval', async () => {
    const sender = new OutcomeSender(bus, topology, quiet, { flushEveryMs: 100 });
    const sync = `s${randomBytes(3).toString('hex')}`;
    sender.outcome(outcome(sync));
    const messages = await waitUntil('the timed flush', async () => {
      const m = await messagesOf(sync);
      return m.length > 0 && m;
    });
    expect(outcomesIn(messages[0]!).map((o) => o.result)).toEqual(['delivered']);
    await sender.stop();
  });

  it('sends what it holds when stopped, and nothing after', async () => {
    const sender = new OutcomeSender(bus, topology, quiet, { flushEveryMs: 3_600_000 });
    const sync = `s${randomBytes(3).toString('hex')}`;
    sender.outcome(outcome(sync, { result: 'retry', status: 503 }));
    sender.outcome(outcome(sync, { messageId: 'm2' }));
    await sender.stop();
    const messages = await messagesOf(sync);
    expect(messages.flatMap(outcomesIn).map((o) => [o.messageId, o.result])).toEqual([
      ['m', 'retry'],
      ['m2', 'delivered'],
    ]);
    sender.outcome(outcome(sync, { messageId: 'late' }));
    await new Promise((r) => setTimeout(r, 200));
    expect(await messagesOf(sync)).toHaveLength(1);
  });

  it('tries a message again that could not be stored, once it can be', async () => {
    // A subject no stream stores yet: the publish is refused ("no responders").
    const other = `${ns}x`;
    const otherTopology = { subjects: { outcome: (syncId: string) => `${other}.outcome.${syncId}` } };
    const sender = new OutcomeSender(bus, otherTopology, quiet, { flushEveryMs: 3_600_000 });
    try {
      sender.outcome(outcome('s1'));
      await sender.flush();
      await bus.jsm.streams.add({ name: other.toUpperCase(), subjects: [`${other}.outcome.>`], duplicate_window: 120_000_000_000 });
      await sender.flush();
      const info = await bus.jsm.streams.info(other.toUpperCase());
      expect(info.state.messages).toBe(1);
    } finally {
      await sender.stop();
      await bus.jsm.streams.delete(other.toUpperCase()).catch(() => undefined);
    }
  });

  it('shares one sender per connection, stopped with its last outcomes sent', async () => {
    const sync = `s${randomBytes(3).toString('hex')}`;
    const a = sharedOutcomeSender(bus, topology, quiet);
    expect(sharedOutcomeSender(bus, topology, quiet)).toBe(a);
    a.outcome(outcome(sync, { result: 'discarded', attempt: 0, status: undefined, reason: 'older than 30 days' }));
    await stopSharedOutcomeSender(bus);
    const [message] = await messagesOf(sync);
    expect(outcomesIn(message!).map((o) => o.reason)).toEqual(['older than 30 days']);
    expect(sharedOutcomeSender(bus, topology, quiet)).not.toBe(a);
    await stopSharedOutcomeSender(bus);
  });
});
