/**
 * Issue 12, item 9: ingest pushes back instead of buffering. Against the real JetStream:
 * a backlog (or stream size) over its bound → 429 with Retry-After, nothing lost of what got
 * 200; a flood of concurrent requests → in-flight requests and bytes stay within their bounds,
 * every request answered 200 or 503 (with Retry-After), never a reset or a 500; JetStream
 * frozen (a private nats-server under SIGSTOP) → 503 with Retry-After, fast once the first
 * publish timed out, and every event answered 200 stored exactly once after it thaws.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { createInstance, Types } from '@amplitude/analytics-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PARTITIONS, declareConsumer } from '@inkstream/bus';
import type { IngestedRecord } from '@inkstream/contracts';
import { createLogger } from '@inkstream/service-kit';
import { BacklogMonitor } from './backlog-monitor.js';
import { EventPublisher, type PublishResult } from './event-publisher.js';
import { createPushBack, DEFAULT_PUSH_BACK_SETTINGS, type PushBackSettings } from './push-back.js';
import { PrivateNats } from './test-support/private-nats.js';
import { startIngestHarness, type IngestHarness } from './test-support/ingest-harness.js';

interface Answer {
  status: number;
  retryAfter: string | undefined;
  allowOrigin: string | undefined;
  body: Record<string, unknown>;
}

const silent = createLogger('push-back-test', 'silent');
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

/** A plain HTTP POST; a reset or any client error rejects. */
function post(url: string, payload: unknown): Promise<Answer> {
  const body = Buffer.from(JSON.stringify(payload));
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () =>
        resolve({
          status: res.statusCode!,
          retryAfter: res.headers['retry-after'] as string | undefined,
          allowOrigin: res.headers['access-control-allow-origin'] as string | undefined,
          body: JSON.parse(Buffer.concat(chunks).toString()),
        }),
      );
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(body);
  });
}

const eventsOf = (prefix: string, count: number, padding = 0) =>
  Array.from({ length: count }, (_, i) => ({
    user_id: `user-${prefix}-${i % 7}`,
    event_type: 'Push Back',
    insert_id: `${prefix}-${i}`,
    ...(padding ? { event_properties: { padding: 'x'.repeat(padding) } } : {}),
  }));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const storedIds = async (h: IngestHarness) => (await h.stored()).map((r) => r.event.insert_id as string);
const countOf = (ids: string[]) => ids.reduce((m, id) => m.set(id, (m.get(id) ?? 0) + 1), new Map<string, number>());

describe('push-back against the real JetStream', () => {
  let h: IngestHarness;

  beforeAll(async () => {
    h = await startIngestHarness('pushback');
  });

  afterAll(async () => {
    await h.close();
  });

  const settings = (over: Partial<PushBackSettings>): PushBackSettings => ({ ...DEFAULT_PUSH_BACK_SETTINGS, ...over });

  it('a backlog over its bound is answered 429 with Retry-After; nothing answered 200 is lost', async () => {
    // The filter's partition consumers, as the filter declares them, none of them reading.
    const stream = h.topology.streams.ingest.name;
    for (let p = 0; p < PARTITIONS; p++) await declareConsumer(h.bus.jsm, stream, h.topology.consumers.filter(p));
    const monitor = new BacklogMonitor(h.bus.jsm, h.topology, 100, silent);
    await monitor.start();
    try {
      const app = h.buildApp({
        pushBack: createPushBack(settings({ maxBacklogMessages: 20, backlogCheckIntervalMs: 100, backlogRetryAfterSeconds: 17 }), () => true, () => monitor.snapshot),
      });
      const url = await h.serve(app);
      const accepted: string[] = [];
      let throttled: { answer: Answer; ids: string[] } | undefined;
      for (let round = 0; round < 40 && !throttled; round++) {
        const events = eventsOf(`backlog-${round}`, 5);
        const answer = await post(url('/2/httpapi'), { api_key: h.apiKey, events });
        const ids = events.map((e) => e.insert_id);
        if (answer.status === 200) accepted.push(...ids);
        else if (answer.status === 429) throttled = { answer, ids };
        else throw new Error(`unexpected ${answer.status} ${JSON.stringify(answer.body)}`);
        await monitor.refresh();
      }
      expect(throttled, 'a 429 once the backlog passed 20').toBeDefined();
      expect(accepted.length).toBeGreaterThan(20);
      expect(throttled!.answer.retryAfter).toBe('17');
      expect(throttled!.answer.body).toEqual({
        code: 429,
        error: 'Too many requests, retry later',
        throttled_devices: {},
        throttled_users: {},
        throttled_events: [0, 1, 2, 3, 4],
      });
      // /batch and /identify push back the same way.
      expect((await post(url('/batch'), { api_key: h.apiKey, events: eventsOf('backlog-batch', 2) })).status).toBe(429);

      // Every event answered 200 is stored once; nothing of a 429 is.
      const stored = countOf(await storedIds(h));
      for (const id of accepted) expect(stored.get(id), id).toBe(1);
      for (const id of throttled!.ids) expect(stored.get(id), id).toBeUndefined();

      // The filter catches up (every partition read and acknowledged): intake resumes.
      for (let p = 0; p < PARTITIONS; p++) {
        const consumer = await h.bus.js.consumers.get(stream, h.topology.consumers.filter(p).durable_name);
        for (let pending = (await consumer.info()).num_pending; pending > 0; pending = (await consumer.info()).num_pending) {
          for await (const m of await consumer.fetch({ max_messages: pending, expires: 2000 })) await m.ackAck();
        }
      }
      await waitFor('the backlog to drain', async () => (await monitor.refresh(), monitor.snapshot!.messages === 0 ? true : undefined));
      const resent = await post(url('/2/httpapi'), { api_key: h.apiKey, events: eventsOf('backlog-resent', 5) });
      expect(resent.status).toBe(200);
    } finally {
      monitor.stop();
    }
  });

  it('the Amplitude Node SDK retries the events our 429 lists and each is stored once when the backlog is gone', async () => {
    let behind = true;
    const pushBack = createPushBack(settings({ maxBacklogMessages: 10 }), () => true, () => ({ messages: behind ? 11 : 0, streamBytes: 0, readAt: Date.now() }));
    const app = h.buildApp({ pushBack });
    const statuses: number[] = [];
    app.addHook('onResponse', async (_request, reply) => {
      statuses.push(reply.statusCode);
      if (statuses.filter((s) => s === 429).length >= 2) behind = false;
    });
    const url = await h.serve(app);
    const client = createInstance();
    await client.init(h.apiKey, { serverUrl: url('/2/httpapi'), flushIntervalMillis: 50, logLevel: Types.LogLevel.None }).promise;
    // The SDK holds throttled events 30 s; a plugin reaches its destination to make that 300 ms.
    await client.add({
      name: 'short-throttle',
      type: 'enrichment',
      setup: async (_config: unknown, amplitude: { timeline: { plugins: Array<{ name?: string; throttleTimeout?: number }> } }) => {
        const destination = amplitude.timeline.plugins.find((p) => p.name === 'amplitude');
        if (destination) destination.throttleTimeout = 300;
        return undefined;
      },
      execute: async (event: Types.Event) => event,
    } as never).promise;

    const results = await Promise.all([1, 2, 3].map((n) => client.track('Throttled', { n }, { user_id: 'user-12345' }).promise));
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(2);
    for (const result of results) expect(result).toMatchObject({ code: 200 });
    const stored = countOf(await storedIds(h));
    for (const result of results) expect(stored.get(result.event.insert_id!)).toBe(1);
  });

  it('a stream over its byte bound is answered 429 too', async () => {
    const monitor = new BacklogMonitor(h.bus.jsm, h.topology, 100, silent);
    await monitor.start();
    try {
      const bytesNow = monitor.snapshot!.streamBytes;
      const app = h.buildApp({
        pushBack: createPushBack(settings({ maxBacklogMessages: 0, maxStreamBytes: bytesNow + 5000, backlogCheckIntervalMs: 100 }), () => true, () => monitor.snapshot),
      });
      const url = await h.serve(app);
      const statuses: number[] = [];
      for (let round = 0; round < 20 && !statuses.includes(429); round++) {
        statuses.push((await post(url('/2/httpapi'), { api_key: h.apiKey, events: eventsOf(`bytes-${round}`, 2, 1000) })).status);
        await monitor.refresh();
      }
      expect(statuses.at(-1)).toBe(429);
      expect(statuses.slice(0, -1).every((s) => s === 200)).toBe(true);
    } finally {
      monitor.stop();
    }
  });

  it('a flood of concurrent requests stays within the in-flight bounds, every request answered 200 or 503', async () => {
    const MAX_REQUESTS = 16;
    const MAX_BYTES = 1_000_000;
    const pushBack = createPushBack(settings({ maxInFlightRequests: MAX_REQUESTS, maxInFlightBytes: MAX_BYTES }), () => true, () => undefined);
    // Counts publishes under way at once (what ingest holds while JetStream acknowledges), each
    // acknowledged 500 ms late so that requests pile up whatever the machine's speed.
    let publishing = 0;
    let peakPublishing = 0;
    class CountingPublisher extends EventPublisher {
      override async publish(records: readonly IngestedRecord[]): Promise<PublishResult> {
        peakPublishing = Math.max(peakPublishing, ++publishing);
        try {
          await new Promise((r) => setTimeout(r, 500));
          return await super.publish(records);
        } finally {
          publishing--;
        }
      }
    }
    const app = h.buildApp({ pushBack, publisher: new CountingPublisher(h.bus.nc, h.topology, h.maxPayload) });
    const url = await h.serve(app);

    const FLOOD = 400;
    // ~90 KB each: 16 of them would hold more than MAX_BYTES, so both bounds are pressed.
    const sent = Array.from({ length: FLOOD }, (_, i) => eventsOf(`flood-${i}-${randomBytes(2).toString('hex')}`, 3, 30_000));
    const answers = await Promise.all(
      sent.map((events) => post(url(`/2/httpapi`), { api_key: h.apiKey, events }).catch((err: Error) => err)),
    );

    const errors = answers.filter((a): a is Error => a instanceof Error);
    expect(errors.map((e) => e.message)).toEqual([]);
    const byStatus = countOf((answers as Answer[]).map((a) => String(a.status)));
    expect([...byStatus.keys()].sort()).toEqual(['200', '503']);
    for (const a of answers as Answer[]) {
      if (a.status === 503) {
        expect(a.body).toEqual({ code: 503, error: 'Service unavailable' });
        expect(a.retryAfter).toBe('1');
        expect(a.allowOrigin).toBe('*');
      }
    }
    expect(pushBack.inFlight.peakRequests).toBeLessThanOrEqual(MAX_REQUESTS);
    expect(pushBack.inFlight.peakBytes).toBeLessThanOrEqual(MAX_BYTES);
    expect(pushBack.inFlight.peakBytes).toBeGreaterThan(MAX_BYTES / 2);
    expect(peakPublishing).toBeLessThanOrEqual(MAX_REQUESTS);
    await waitFor('every ticket to be given back', () => (pushBack.inFlight.requests === 0 && pushBack.inFlight.bytes === 0 ? true : undefined));

    const stored = countOf(await storedIds(h));
    sent.forEach((events, i) => {
      const answer = answers[i] as Answer;
      for (const e of events) expect(stored.get(e.insert_id), e.insert_id).toBe(answer.status === 200 ? 1 : undefined);
    });
  });
});

describe('push-back when JetStream freezes (private nats-server under SIGSTOP)', () => {
  const nats = new PrivateNats();
  let h: IngestHarness;

  beforeAll(async () => {
    await nats.start();
    h = await startIngestHarness('frozen', undefined, nats.url);
  });

  afterAll(async () => {
    nats.resume();
    await h?.close();
    await nats.stop();
  });

  it('answers 503 with Retry-After instead of waiting, and stores every event answered 200 once', async () => {
    const pushBack = createPushBack({ ...DEFAULT_PUSH_BACK_SETTINGS, jetStreamCooldownMs: 5000 }, () => h.bus.isConnected(), () => undefined);
    let publishCalls = 0;
    class CountingPublisher extends EventPublisher {
      override publish(records: readonly IngestedRecord[]): Promise<PublishResult> {
        publishCalls++;
        return super.publish(records);
      }
    }
    const app = h.buildApp({ pushBack, publisher: new CountingPublisher(h.bus.nc, h.topology, h.maxPayload, 500) });
    const url = await h.serve(app);
    const send = (prefix: string) => post(url('/2/httpapi'), { api_key: h.apiKey, events: eventsOf(prefix, 3) });

    expect((await send('before')).status).toBe(200);

    nats.pause();
    // The first request waits for its publish timeout, then fails; the ones after it are
    // refused at once for the cool-down. All of them concurrently: none hangs, none is reset.
    const first = await send('frozen-first');
    expect(first.status).toBe(503);
    expect(first.retryAfter).toBe('5');
    const callsBefore = publishCalls;
    const during = await Promise.all(Array.from({ length: 50 }, (_, i) => send(`frozen-${i}`)));
    expect(publishCalls, 'nothing tried to publish during the cool-down').toBe(callsBefore);
    for (const answer of during) {
      expect(answer.status).toBe(503);
      expect(answer.body).toEqual({ code: 503, error: 'Service unavailable' });
      expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(answer.allowOrigin, 'a browser SDK can read the refusal').toBe('*');
    }
    expect(pushBack.inFlight.requests).toBe(0);

    nats.resume();
    // Clients retry (same insert_ids) until accepted, as the SDKs do after a 503.
    const prefixes = ['frozen-first', ...during.map((_, i) => `frozen-${i}`)];
    for (const prefix of prefixes) {
      await waitFor(`${prefix} to be accepted`, async () => ((await send(prefix)).status === 200 ? true : undefined));
    }
    const stored = countOf(await storedIds(h));
    for (const prefix of ['before', ...prefixes]) {
      for (const e of eventsOf(prefix, 3)) expect(stored.get(e.insert_id), e.insert_id).toBe(1);
    }
  });
});
