import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeanPublisher, connectBus, createTopology, declareStreams, type Bus } from '@inkstream/bus';
import { processedMark } from './processed-keys.js';
import { ProcessedLog } from './processed-log.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const quiet = { info() {}, warn() {}, error() {} };

describe('ProcessedLog against the shared NATS', () => {
  const topology = createTopology({ namespace: `t_fproc_${randomBytes(4).toString('hex')}` });
  let bus: Bus;
  let publisher: LeanPublisher;

  beforeAll(async () => {
    bus = await connectBus({ url: NATS_URL, name: 'processed-log-test', logger: quiet });
    await declareStreams(bus.jsm, topology);
    publisher = new LeanPublisher(bus.nc, 5_000);
  });
  afterAll(async () => {
    publisher?.close();
    for await (const name of bus.jsm.streams.names()) if (name.includes(topology.namespace.toUpperCase())) await bus.jsm.streams.delete(name);
    await bus?.close();
  });

  const log = (options: Partial<ConstructorParameters<typeof ProcessedLog>[0]> = {}) =>
    new ProcessedLog({ bus, topology, publisher, windowMs: () => 600_000, ...options });

  it('a mark is pending while its work is stored, done once its mark is written, and read back by another replica', async () => {
    const one = log();
    const staged = new Promise<void>(() => undefined);
    one.stage(3, ['markA', 'markB'], staged);
    expect(one.check(3, 'markA', Date.now())).toBe(staged);
    expect(one.check(3, 'other', Date.now())).toBeUndefined();
    expect(one.check(4, 'markA', Date.now())).toBeUndefined();
    await one.write(3, ['markA', 'markB']);
    expect(one.check(3, 'markA', Date.now())).toBe(true);
    expect(one.check(3, 'markB', Date.now())).toBe(true);

    const two = log();
    expect(await two.load(3)).toBe(2);
    expect(two.check(3, 'markA', Date.now())).toBe(true);
    expect(await two.load(5)).toBe(0);
  });

  it('marks whose work failed are forgotten: the records are not processed', async () => {
    const one = log();
    const failed = Promise.reject(new Error('profile write refused'));
    failed.catch(() => undefined);
    one.stage(6, ['lost'], failed);
    one.unstage(6, ['lost'], failed);
    expect(one.check(6, 'lost', Date.now())).toBeUndefined();
    // Nothing was written for it either.
    expect(await log().load(6)).toBe(0);
  });

  it('keeps marks for the window and at most maxPerPartition, oldest first', async () => {
    const small = log({ maxPerPartition: 3 });
    for (const mark of ['m1', 'm2', 'm3', 'm4', 'm5']) await small.write(7, [mark]);
    expect(small.size(7)).toBe(3);
    expect(small.check(7, 'm1', Date.now())).toBeUndefined();
    expect(small.check(7, 'm5', Date.now())).toBe(true);
    // Past the window a mark no longer counts.
    expect(small.check(7, 'm5', Date.now() + 601_000)).toBeUndefined();
    // A replica with a window of 1 s reads back only what was written within it.
    await new Promise((r) => setTimeout(r, 1_100));
    const late = log({ windowMs: () => 1_000 });
    expect(await late.load(7)).toBe(0);
    await late.write(7, ['m6']);
    expect(await log({ windowMs: () => 1_000 }).load(7)).toBe(1);
  });

  it('drain writes what is staged; marks of many lanes in one flush are one message', async () => {
    const one = log({ flushDelayMs: 50 });
    const all = Array.from({ length: 10 }, (_, i) => one.write(9, [`lane${i}`]));
    await one.drain(9);
    await Promise.all(all);
    const info = await bus.jsm.streams.info(topology.streams.processed.name, { subjects_filter: topology.subjects.processed(9) });
    expect(info.state.subjects?.[topology.subjects.processed(9)]).toBe(1);
    expect(await log().load(9)).toBe(10);
  });

  it('keeps the processed stream for a longer ingest window: raised, never lowered', async () => {
    const name = topology.streams.processed.name;
    const before = (await bus.jsm.streams.info(name)).config.max_age;
    expect(await log({ windowMs: () => 60_000 }).keepForWindow()).toBeUndefined();
    expect((await bus.jsm.streams.info(name)).config.max_age).toBe(before);
    expect(await log({ windowMs: () => 3_600_000 }).keepForWindow()).toBe(4_200_000);
    expect((await bus.jsm.streams.info(name)).config.max_age).toBe(4_200 * 1e9);
  });

  it('reads the marks as versions before the mark table wrote them, and writes them the same way (older replicas read them)', async () => {
    const [a, b, c] = ['i:a', 'i:b', 'i:c'].map((key) => processedMark(`u1\u0000${key}`)) as [string, string, string];
    const subject = topology.subjects.processed(13);
    // Two messages as the previous version published them, a mark in both (read once).
    await publisher.publish(subject, new TextEncoder().encode(`inkstream-processed v1\n${a}\n${b}`));
    await publisher.publish(subject, new TextEncoder().encode(`inkstream-processed v1\n${b}\n${c}`));
    const one = log();
    expect(await one.load(13)).toBe(3);
    for (const mark of [a, b, c]) expect(one.check(13, mark, Date.now())).toBe(true);
    expect(one.check(13, processedMark('u1\u0000i:d'), Date.now())).toBeUndefined();
    // What this version writes is the same text.
    const d = processedMark('u1\u0000i:d');
    await one.write(13, [d, a]);
    const last = await bus.jsm.streams.getMessage(topology.streams.processed.name, { last_by_subj: subject });
    expect(new TextDecoder().decode(last!.data)).toBe(`inkstream-processed v1\n${d}\n${a}`);
    expect(one.size(13)).toBe(4);
  });

  it('reading back more marks than the bound keeps the newest', async () => {
    const marks = Array.from({ length: 10 }, (_, i) => processedMark(`u2\u0000i:${i}`));
    const subject = topology.subjects.processed(14);
    for (let i = 0; i < 10; i += 5) await publisher.publish(subject, new TextEncoder().encode(['inkstream-processed v1', ...marks.slice(i, i + 5)].join('\n')));
    const small = log({ maxPerPartition: 3 });
    expect(await small.load(14)).toBe(10);
    expect(small.size(14)).toBe(3);
    marks.forEach((mark, i) => expect(small.check(14, mark, Date.now())).toBe(i >= 7 ? true : undefined));
  });

  it('forgetting a partition still writes its buffered marks and answers their writers', async () => {
    const one = log({ flushDelayMs: 60_000 });
    const written = one.write(11, ['late']);
    one.forget(11);
    await written;
    expect(one.size(11)).toBe(0);
    expect(await log().load(11)).toBe(1);
  });
});
