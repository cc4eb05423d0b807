/**
 * Amplitude compatibility, proven with the real `@amplitude/analytics-node` and plain HTTP
 * against a listening ingest app and the real JetStream (spec/ingest.md, reference §4, §6).
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInstance, Identify, Revenue, Types } from '@amplitude/analytics-node';
import type { IngestedRecord } from '@inkstream/contracts';
import type { Server } from '@inkstream/service-kit';
import { MAX_EVENTS_PER_REQUEST } from './accept-events.js';
import { asSent, MAX_BATCH_BODY_BYTES, MAX_BODY_BYTES, startIngestHarness, type IngestHarness } from './test-support/ingest-harness.js';

type Json = Record<string, unknown>;

interface SeenRequest {
  path: string;
  apiKey: unknown;
  /** insert_ids of the events the request carried; undefined when the body was not read. */
  insertIds: unknown[] | undefined;
  status: number;
  response: Json | undefined;
}

const parseOrUndefined = (text: string): Json | undefined => {
  try {
    return JSON.parse(text) as Json;
  } catch {
    return undefined;
  }
};

/**
 * Records every request an app answers, and can hold the next one at the door: while the
 * SDK waits for that answer it does not flush, so events tracked meanwhile go out together.
 */
function recordRequests(app: Server) {
  const seen: SeenRequest[] = [];
  let hold: { arrive: () => void; gate: Promise<void> } | undefined;
  app.addHook('onRequest', async () => {
    const current = hold;
    if (!current) return;
    hold = undefined;
    current.arrive();
    await current.gate;
  });
  app.addHook('onSend', async (request, reply, payload) => {
    const body = Buffer.isBuffer(request.body) ? parseOrUndefined(request.body.toString('utf8')) : undefined;
    seen.push({
      path: request.url,
      apiKey: body?.api_key,
      insertIds: Array.isArray(body?.events) ? body.events.map((e: Json | null) => e?.insert_id) : undefined,
      status: reply.statusCode,
      response: typeof payload === 'string' ? parseOrUndefined(payload) : undefined,
    });
    return payload;
  });
  return {
    seen,
    holdNext() {
      let arrive!: () => void;
      let release!: () => void;
      const arrived = new Promise<void>((resolve) => (arrive = resolve));
      const gate = new Promise<void>((resolve) => (release = resolve));
      hold = { arrive, gate };
      return { arrived, release };
    },
  };
}
type Recorder = ReturnType<typeof recordRequests>;

/**
 * Makes the SDK send `batch` in one flush, whatever the machine's speed: a first event's
 * request is held at the server, the batch is tracked, and the hold is released once the
 * last batch event has passed the SDK's plugins (and so sits in its send queue).
 */
async function sendTogether(client: Types.NodeClient, server: Recorder, batch: Array<() => Promise<Types.Result>>) {
  const held = server.holdNext();
  const first = client.track('Hold The Line', undefined, { user_id: 'warm-up-user' }).promise;
  await held.arrived;
  let queued = 0;
  let everyEventQueued!: () => void;
  const allQueued = new Promise<void>((resolve) => (everyEventQueued = resolve));
  const counter = {
    name: 'count-queued',
    type: 'enrichment' as const,
    execute: async (event: Types.Event) => {
      if (++queued === batch.length) everyEventQueued();
      return event;
    },
  };
  await client.add(counter as Types.EnrichmentPlugin).promise;
  const results = batch.map((send) => send());
  await allQueued;
  // Lets the SDK finish queueing the last event before the held request can be answered.
  await new Promise((resolve) => setImmediate(resolve));
  held.release();
  const out = { first: await first, results: await Promise.all(results) };
  await client.remove(counter.name).promise;
  return out;
}

async function sdkClient(apiKey: string, serverUrl: string, options: Partial<Types.NodeOptions> = {}) {
  const client = createInstance();
  await client.init(apiKey, { serverUrl, flushIntervalMillis: 50, logLevel: Types.LogLevel.None, flushQueueSize: 50, ...options }).promise;
  return client;
}

const SUCCESS = 'Event tracked successfully';
const insertIdOf = (result: Types.Result) => result.event.insert_id!;

describe('ingest against @amplitude/analytics-node and plain HTTP', () => {
  let h: IngestHarness;
  let url: (path: string) => string;
  let server: Recorder;

  beforeAll(async () => {
    h = await startIngestHarness('sdk');
    const app = h.buildApp();
    server = recordRequests(app);
    url = await h.serve(app);
  });

  afterAll(async () => {
    await h.close();
  });

  /** How often each insert_id is stored. */
  async function storedCounts(ids: readonly string[]): Promise<number[]> {
    const all = await h.stored();
    return ids.map((id) => all.filter((r) => r.event.insert_id === id).length);
  }

  async function storedOnce(id: string): Promise<IngestedRecord> {
    const copies = (await h.stored()).filter((r) => r.event.insert_id === id);
    expect(copies).toHaveLength(1);
    return copies[0]!;
  }

  describe('@amplitude/analytics-node', () => {
    it('reports 200 for valid events and each is stored once, as sent', async () => {
      const client = await sdkClient(h.apiKey, url('/2/httpapi'));
      const results = await Promise.all([
        client.track('Product Viewed', { product_id: 'p-1', price: 12.5, tags: ['a', 'b'] }, { user_id: 'user-12345' }).promise,
        client.track('Product Viewed', { product_id: 'p-2' }, { device_id: 'C8F9E604-F01A-4BD9-95C6-8E5357DF265D' }).promise,
        client.track({ event_type: 'Signed Up', user_id: 'user-12345', device_id: 'device-12345', session_id: 1709566376000 }).promise,
        client.track('Nested', { a: { b: { c: [1, { d: 2 }] } } }, { user_id: 'user-12345', app_version: '1.2.3', platform: 'Node' }).promise,
      ]);
      for (const result of results) expect(result).toMatchObject({ code: 200, message: SUCCESS });
      for (const result of results) {
        const record = await storedOnce(insertIdOf(result));
        expect(record).toMatchObject({ kind: 'event', projectId: 'p1' });
        expect(record.event).toEqual(asSent(result.event));
      }
    });

    it('drops only the events our 400 lists and re-sends the rest, storing nothing twice', async () => {
      const client = await sdkClient(h.apiKey, url('/2/httpapi'));
      const user = { user_id: 'user-12345' };
      const { first, results } = await sendTogether(client, server, [
        () => client.track('Valid A', { n: 1 }, user).promise,
        () => client.track('ISO Time', undefined, { ...user, time: '2024-01-01T00:00:00Z' as unknown as number }).promise,
        () => client.track('Valid C', { n: 3 }, user).promise,
        () => client.track('Short Id', undefined, { user_id: 'abc' }).promise,
      ]);
      expect(first.code).toBe(200);
      const [a, iso, c, short] = results as [Types.Result, Types.Result, Types.Result, Types.Result];
      expect(a).toMatchObject({ code: 200, message: SUCCESS });
      expect(c).toMatchObject({ code: 200, message: SUCCESS });
      expect(iso).toMatchObject({ code: 400, message: 'Invalid field values on some events' });
      expect(short).toMatchObject({ code: 400, message: 'Invalid field values on some events' });

      // What the server saw: the four together, refused with both indexes listed; then the two valid ones.
      const ids = results.map(insertIdOf);
      const together = server.seen.find((r) => r.insertIds?.length === 4 && r.insertIds.every((id, i) => id === ids[i]));
      expect(together?.status).toBe(400);
      expect(together?.response).toEqual({
        code: 400,
        error: 'Invalid field values on some events',
        events_with_invalid_fields: { time: [1] },
        events_with_missing_fields: {},
        events_with_invalid_id_lengths: { user_id: [3] },
      });
      const resent = server.seen.find((r) => r.insertIds?.length === 2 && r.insertIds[0] === ids[0] && r.insertIds[1] === ids[2]);
      expect(resent?.status).toBe(200);
      expect(await storedCounts(ids)).toEqual([1, 0, 1, 0]);
    });

    it('splits its batch after our 413 and every event ends up stored once', async () => {
      // Room for one of these events per request, not for two.
      const small = h.buildApp({ maxBodyBytes: 4_000, maxBatchBodyBytes: 4_000 });
      const smallServer = recordRequests(small);
      const smallUrl = await h.serve(small);
      const client = await sdkClient(h.apiKey, smallUrl('/2/httpapi'), { flushQueueSize: 4 });
      const padding = 'x'.repeat(2_000);
      const { first, results } = await sendTogether(
        client,
        smallServer,
        [0, 1, 2, 3].map((i) => () => client.track('Big', { i, padding }, { user_id: 'user-12345' }).promise),
      );
      expect(first.code).toBe(200);
      for (const result of results) expect(result).toMatchObject({ code: 200, message: SUCCESS });
      const ids = results.map(insertIdOf);
      expect(await storedCounts(ids)).toEqual([1, 1, 1, 1]);
      expect(smallServer.seen.filter((r) => r.status === 413).length).toBeGreaterThan(0);
      for (const r of smallServer.seen.filter((r) => r.status === 413)) expect(r.response).toEqual({ code: 413, error: 'Payload too large' });
      const accepted = smallServer.seen.filter((r) => r.status === 200 && r.insertIds?.some((id) => ids.includes(id as string)));
      expect(accepted.map((r) => r.insertIds!.length)).toEqual([1, 1, 1, 1]);
    });

    it('fails the whole batch on an invalid api key and does not retry', async () => {
      const wrongKey = `wrong-${randomUUID()}`;
      const client = await sdkClient(wrongKey, url('/2/httpapi'));
      const { first, results } = await sendTogether(
        client,
        server,
        [1, 2, 3].map((i) => () => client.track('Refused', { i }, { user_id: 'user-12345' }).promise),
      );
      for (const result of [first, ...results]) {
        expect(result.code).toBe(400);
        expect(result.message).toBe('Invalid API key: wron…');
      }
      const requestsWithKey = () => server.seen.filter((r) => r.apiKey === wrongKey).length;
      // The held one and the batch: every event is settled, so the SDK has nothing left to resend.
      expect(requestsWithKey()).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(requestsWithKey()).toBe(2);
      expect(await storedCounts(results.map(insertIdOf))).toEqual([0, 0, 0]);
    });

    it('sends options.min_id_length from minIdLength, and ingest honours it', async () => {
      const client = await sdkClient(h.apiKey, url('/2/httpapi'), { minIdLength: 3 });
      const result = await client.track('Short Ids Allowed', undefined, { user_id: 'abc', device_id: 'xyz' }).promise;
      expect(result).toMatchObject({ code: 200, message: SUCCESS });
      expect((await storedOnce(insertIdOf(result))).userKey).toBe('abc');
    });

    it('works with serverUrl pointing at /batch', async () => {
      const before = server.seen.length;
      const client = await sdkClient(h.apiKey, url('/batch'));
      const results = await Promise.all([
        client.track('Backfilled', { n: 1 }, { user_id: 'user-12345', time: 1709566376409 }).promise,
        client.track('Backfilled', { n: 2 }, { device_id: 'device-12345', time: 1709566376410 }).promise,
      ]);
      for (const result of results) expect(result).toMatchObject({ code: 200, message: SUCCESS });
      expect(server.seen.slice(before).every((r) => r.path === '/batch')).toBe(true);
      for (const result of results) expect((await storedOnce(insertIdOf(result))).event).toEqual(asSent(result.event));
    });

    it('stores identify, group identify, setGroup and revenue events as the SDK sent them', async () => {
      const client = await sdkClient(h.apiKey, url('/2/httpapi'));
      const user = { user_id: 'user-12345' };
      const identify = new Identify()
        .set('plan', 'pro')
        .setOnce('initial_plan', 'free')
        .add('logins', 1)
        .append('locations', 'ca')
        .prepend('visits', 'ny')
        .postInsert('tasks', 'a')
        .preInsert('tasks_2', 'b')
        .remove('company', 'x')
        .unset('legacy');
      const revenue = new Revenue().setProductId('sku-1').setPrice(19.99).setQuantity(2).setRevenueType('purchase').setCurrency('EUR');
      const results = await Promise.all([
        client.identify(identify, user).promise,
        client.groupIdentify('org', 'engineering', new Identify().set('size', 40), user).promise,
        client.setGroup('org', 'engineering', user).promise,
        client.revenue(revenue, user).promise,
      ]);
      for (const result of results) expect(result).toMatchObject({ code: 200, message: SUCCESS });
      const [identified, groupIdentified, grouped, purchased] = await Promise.all(results.map((r) => storedOnce(insertIdOf(r))));
      for (const [record, result] of [identified, groupIdentified, grouped, purchased].map((r, i) => [r, results[i]!] as const)) {
        expect(record!.event).toEqual(asSent(result.event));
      }
      expect(identified!.event).toMatchObject({
        event_type: '$identify',
        user_properties: {
          $set: { plan: 'pro' },
          $setOnce: { initial_plan: 'free' },
          $add: { logins: 1 },
          $append: { locations: 'ca' },
          $prepend: { visits: 'ny' },
          $postInsert: { tasks: 'a' },
          $preInsert: { tasks_2: 'b' },
          $remove: { company: 'x' },
          $unset: { legacy: '-' },
        },
      });
      expect(groupIdentified!.event).toMatchObject({ event_type: '$groupidentify', groups: { org: 'engineering' }, group_properties: { $set: { size: 40 } } });
      expect(grouped!.event).toMatchObject({ event_type: '$identify', groups: { org: 'engineering' }, user_properties: { $set: { org: 'engineering' } } });
      expect(purchased!.event).toMatchObject({
        event_type: 'revenue_amount',
        event_properties: { $productId: 'sku-1', $price: 19.99, $quantity: 2, $revenueType: 'purchase', $currency: 'EUR' },
      });
    });
  });

  describe('plain HTTP: every row of the response table', () => {
    const json = { 'content-type': 'application/json' };
    const ok = (insertId: string) => ({ user_id: 'user-12345', event_type: 'Plain HTTP', insert_id: insertId });

    async function post(path: string, body: string | Uint8Array, headers: Record<string, string> = json) {
      const res = await fetch(url(path), { method: 'POST', headers, body });
      const text = await res.text();
      return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Json };
    }
    const postJson = (path: string, body: unknown, headers?: Record<string, string>) => post(path, JSON.stringify(body), headers);

    /** Events of `eventBytes` each, `count` of them, as one request body. */
    function bodyOf(count: number, eventBytes: number, prefix: string): string {
      const events = Array.from({ length: count }, (_, i) => ({ ...ok(`${prefix}-${i}`), event_properties: { s: 'x'.repeat(eventBytes) } }));
      return JSON.stringify({ api_key: h.apiKey, events });
    }

    it('200: every event stored, Amplitude’s success body', async () => {
      const body = JSON.stringify({ api_key: h.apiKey, events: [ok('row-200-a'), { ...ok('row-200-b'), user_id: undefined, device_id: 'device-12345' }] });
      const res = await post('/2/httpapi', body);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('application/json');
      const answer = res.json();
      expect(answer).toEqual({ code: 200, events_ingested: 2, payload_size_bytes: Buffer.byteLength(body), server_upload_time: expect.any(Number) });
      expect(await storedCounts(['row-200-a', 'row-200-b'])).toEqual([1, 1]);
    });

    it.each([
      ['not JSON', '/2/httpapi', '{"api_key": nope', { code: 400, error: 'Invalid JSON request body' }],
      ['JSON that is not an object', '/batch', '[{"api_key":"k"}]', { code: 400, error: 'Invalid JSON request body' }],
      ['empty', '/2/httpapi', '', { code: 400, error: 'Missing request body' }],
      ['missing api_key', '/2/httpapi', JSON.stringify({ events: [ok('x')] }), { code: 400, error: 'Request missing required field', missing_field: 'api_key' }],
      ['missing events', '/batch', JSON.stringify({ api_key: 'k' }), { code: 400, error: 'Request missing required field', missing_field: 'events' }],
      ['empty events', '/2/httpapi', JSON.stringify({ api_key: 'k', events: [] }), { code: 400, error: 'Request missing required field', missing_field: 'events' }],
      ['unknown api_key', '/2/httpapi', JSON.stringify({ api_key: 'nope-0123', events: [ok('x')] }), { code: 400, error: 'Invalid API key: nope…' }],
      ['too many events', '/batch', JSON.stringify({ api_key: 'k', events: Array.from({ length: MAX_EVENTS_PER_REQUEST + 1 }, () => ok('x')) }), { code: 413, error: 'Payload too large' }],
    ])('%s → %j', async (_case, path, body, expected) => {
      const res = await post(path, body);
      expect(res.status).toBe(expected.code);
      expect(res.json()).toEqual(expected);
    });

    it('400: some events invalid → every index in all three lists, none stored', async () => {
      const events = [
        ok('row-400-0'),
        { ...ok('row-400-1'), time: '2024-01-01T00:00:00Z' },
        { ...ok('row-400-2'), event_type: undefined },
        { ...ok('row-400-3'), user_id: 'abcd' },
        { ...ok('row-400-4'), device_id: 'xyz', time: 1.5 },
        { ...ok('row-400-5'), user_properties: { $set: { a: 1 }, plain: 2 } },
        { ...ok('row-400-6'), user_id: undefined },
      ];
      const res = await postJson('/2/httpapi', { api_key: h.apiKey, events });
      expect(res.status).toBe(400);
      expect(res.json()).toEqual({
        code: 400,
        error: 'Invalid field values on some events',
        events_with_invalid_fields: { time: [1, 4], user_properties: [5] },
        events_with_missing_fields: { event_type: [2], user_id: [6] },
        events_with_invalid_id_lengths: { user_id: [3], device_id: [4] },
      });
      expect(await storedCounts(events.map((e) => e.insert_id))).toEqual([0, 0, 0, 0, 0, 0, 0]);
    });

    it('413: /2/httpapi past 1 MB, /batch takes the same body and refuses past 20 MB', async () => {
      const overOneMb = bodyOf(3, 400_000, 'row-413-a');
      expect(Buffer.byteLength(overOneMb)).toBeGreaterThan(MAX_BODY_BYTES);
      const refused = await post('/2/httpapi', overOneMb);
      expect(refused.status).toBe(413);
      expect(refused.json()).toEqual({ code: 413, error: 'Payload too large' });
      expect((await post('/batch', overOneMb)).status).toBe(200);
      expect(await storedCounts(['row-413-a-0', 'row-413-a-1', 'row-413-a-2'])).toEqual([1, 1, 1]);

      const overTwentyMb = JSON.stringify({ api_key: h.apiKey, events: [ok('row-413-b')], padding: 'x'.repeat(MAX_BATCH_BODY_BYTES) });
      const batchRefused = await post('/batch', overTwentyMb);
      expect(batchRefused.status).toBe(413);
      expect(batchRefused.json()).toEqual({ code: 413, error: 'Payload too large' });
    });

    it('413: the limits count after gunzip, on both endpoints', async () => {
      const gz = { ...json, 'content-encoding': 'gzip' };
      const overOneMb = gzipSync(bodyOf(3, 400_000, 'row-413-gz'));
      expect(overOneMb.length).toBeLessThan(MAX_BODY_BYTES);
      const refused = await post('/2/httpapi', overOneMb, gz);
      expect(refused.status).toBe(413);
      expect(refused.json()).toEqual({ code: 413, error: 'Payload too large' });
      expect((await post('/batch', overOneMb, gz)).status).toBe(200);

      const overTwentyMb = gzipSync(JSON.stringify({ api_key: h.apiKey, events: [ok('row-413-gz-b')], padding: ' '.repeat(MAX_BATCH_BODY_BYTES) }));
      const batchRefused = await post('/batch', overTwentyMb, gz);
      expect(batchRefused.status).toBe(413);
      expect(batchRefused.json()).toEqual({ code: 413, error: 'Payload too large' });
      expect(await storedCounts(['row-413-gz-b'])).toEqual([0]);
    });

    it('503: JetStream cannot take the events → nothing stored, retry invited', async () => {
      const unavailableUrl = await h.serve(h.buildUnavailableApp());
      const res = await fetch(unavailableUrl('/2/httpapi'), {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ api_key: h.apiKey, events: [ok('row-503')] }),
      });
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ code: 503, error: 'Service unavailable' });
      expect(await storedCounts(['row-503'])).toEqual([0]);
    });

    it('accepts gzip bodies, text/plain (sendBeacon), no content type and unknown top-level keys', async () => {
      const body = (id: string) =>
        JSON.stringify({
          api_key: h.apiKey,
          events: [ok(id)],
          options: {},
          client_upload_time: new Date().toISOString(),
          request_metadata: { sdk: { metrics: { histogram: {} } } },
          something_new: [1, { two: 2 }],
        });
      expect((await post('/2/httpapi', gzipSync(body('enc-gzip')), { ...json, 'content-encoding': 'gzip' })).status).toBe(200);
      expect((await post('/batch', gzipSync(body('enc-gzip-batch')), { ...json, 'content-encoding': 'gzip' })).status).toBe(200);
      expect((await post('/2/httpapi', body('enc-beacon'), { 'content-type': 'text/plain;charset=UTF-8' })).status).toBe(200);
      expect((await post('/2/httpapi', Buffer.from(body('enc-untyped')), {})).status).toBe(200);
      expect(await storedCounts(['enc-gzip', 'enc-gzip-batch', 'enc-beacon', 'enc-untyped'])).toEqual([1, 1, 1, 1]);
    });

    it('answers the CORS preflight and tags answers for browsers', async () => {
      const preflight = await fetch(url('/2/httpapi'), {
        method: 'OPTIONS',
        headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,content-encoding,traceparent' },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
      expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
      expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase().split(',')).toEqual(['content-type', 'content-encoding', 'traceparent']);
      const res = await post('/2/httpapi', JSON.stringify({ api_key: h.apiKey, events: [ok('cors-1')] }), { ...json, origin: 'https://shop.example' });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
    });

    it('answers unknown paths and methods with Amplitude’s 404', async () => {
      for (const [method, path] of [['POST', '/2/httpapi/extra'], ['GET', '/2/httpapi'], ['POST', '/groupidentify']] as const) {
        const res = await fetch(url(path), { method });
        expect(res.status).toBe(404);
        expect(await res.json()).toEqual({ code: 404, error: 'Invalid request path' });
      }
    });

    describe('/identify', () => {
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      const multipart = (fields: Record<string, string>, boundary = 'InkBoundary7') => ({
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
        body:
          Object.entries(fields)
            .map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
            .join('') + `--${boundary}--\r\n`,
      });

      it('stores an urlencoded object and a multipart array, answering "success"', async () => {
        const one = await post(
          '/identify',
          new URLSearchParams({ api_key: h.apiKey, identification: JSON.stringify({ user_id: 'user-ident-1', insert_id: 'ident-1', user_properties: { $set: { plan: 'pro' } } }) }).toString(),
          form,
        );
        expect(one.status).toBe(200);
        expect(one.headers.get('content-type')).toContain('text/plain');
        expect(one.text).toBe('success');
        const many = multipart({
          api_key: h.apiKey,
          identification: JSON.stringify([
            { device_id: 'device-ident-2', insert_id: 'ident-2', user_properties: { city: 'Zürich' } },
            { user_id: 'user-ident-3', insert_id: 'ident-3', country: 'Switzerland' },
          ]),
        });
        const res = await post('/identify', many.body, many.headers);
        expect(res.status).toBe(200);
        expect(res.text).toBe('success');
        const records = await Promise.all(['ident-1', 'ident-2', 'ident-3'].map(storedOnce));
        expect(records.map((r) => [r.kind, r.userKey, r.event.event_type])).toEqual([
          ['identify', 'user-ident-1', '$identify'],
          ['identify', 'device-ident-2', '$identify'],
          ['identify', 'user-ident-3', '$identify'],
        ]);
        expect(records[1]!.event.user_properties).toEqual({ city: 'Zürich' });
      });

      it.each([
        ['identification missing', new URLSearchParams({ api_key: 'k' }).toString(), form],
        ['identification not JSON', new URLSearchParams({ api_key: 'k', identification: '{"user_id":' }).toString(), form],
        ['identification an empty array', new URLSearchParams({ api_key: 'k', identification: '[]' }).toString(), form],
        ['identification a string', new URLSearchParams({ api_key: 'k', identification: '"user-12345"' }).toString(), form],
        ['identification with a non-object', new URLSearchParams({ api_key: 'k', identification: '[{"user_id":"user-12345"},7]' }).toString(), form],
        ['broken percent-encoding', 'api_key=k&identification=%7B%ZZ', form],
        ['multipart without closing boundary', '--B\r\nContent-Disposition: form-data; name="api_key"\r\n\r\nk', { 'content-type': 'multipart/form-data; boundary=B' }],
        ['multipart without boundary', 'api_key=k', { 'content-type': 'multipart/form-data' }],
      ])('%s → 400 missing_event', async (_case, body, headers) => {
        const res = await post('/identify', body, headers);
        expect(res.status).toBe(400);
        expect(res.json()).toEqual({ code: 400, error: 'missing_event' });
      });

      it('answers the request-level rows like the event endpoints', async () => {
        const identification = JSON.stringify({ user_id: 'user-12345' });
        expect((await post('/identify', new URLSearchParams({ identification }).toString(), form)).json()).toEqual({
          code: 400,
          error: 'Request missing required field',
          missing_field: 'api_key',
        });
        expect((await post('/identify', new URLSearchParams({ api_key: 'nope-0123', identification }).toString(), form)).json()).toEqual({
          code: 400,
          error: 'Invalid API key: nope…',
        });
        expect((await post('/identify', '', form)).json()).toEqual({ code: 400, error: 'Missing request body' });
        const short = await post('/identify', new URLSearchParams({ api_key: h.apiKey, identification: JSON.stringify([{ user_id: 'user-12345' }, { user_id: 'ab' }]) }).toString(), form);
        expect(short.status).toBe(400);
        expect(short.json()).toMatchObject({ code: 400, events_with_invalid_id_lengths: { user_id: [1] } });
        const json = await post('/identify', JSON.stringify({ api_key: h.apiKey, identification }), { 'content-type': 'application/json' });
        expect(json.status).toBe(415);
        expect(json.json()).toEqual({ code: 415, error: 'Unsupported Content-Type or Content-Encoding' });
        const gzipped = await post('/identify', gzipSync(new URLSearchParams({ api_key: h.apiKey, identification: JSON.stringify({ user_id: 'user-ident-gz', insert_id: 'ident-gz' }) }).toString()), {
          ...form,
          'content-encoding': 'gzip',
        });
        expect(gzipped.text).toBe('success');
        await storedOnce('ident-gz');
      });
    });
  });
});
