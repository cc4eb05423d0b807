import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigView,
  connectBus,
  createTopology,
  declareStreams,
  decodeJson,
  type Bus,
} from '@inkstream/bus';
import type { IngestedRecord } from '@inkstream/contracts';
import { createLogger, createMetricsRegistry, type Server } from '@inkstream/service-kit';
import { buildIngestApp } from './app.js';
import { hashApiKey } from './accept-events.js';
import { EventPublisher } from './event-publisher.js';
import { createIngestMetrics } from './metrics.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const API_KEY = 'a'.repeat(32);
const logger = createLogger('ingest-test', 'silent');

describe('ingest app against real JetStream', () => {
  const topology = createTopology({ namespace: `t_ingest_${randomBytes(4).toString('hex')}` });
  let bus: Bus;
  let app: Server;

  beforeAll(async () => {
    bus = await connectBus({ url: NATS_URL, name: 'ingest-test', logger });
    await declareStreams(bus.jsm, topology);
    const config = new ConfigView(logger);
    config.apply({ kind: 'project', id: 'p1', name: 'p', apiKeyHash: hashApiKey(API_KEY), version: 1, deleted: false, updatedAt: '' });
    const metrics = createMetricsRegistry('ingest');
    app = buildIngestApp({
      logger,
      metrics,
      ingestMetrics: createIngestMetrics(metrics),
      config,
      publisher: new EventPublisher(bus.js, topology, bus.nc.info?.max_payload ?? 1_048_576),
      readiness: { nats: () => bus.isConnected() },
      maxBodyBytes: 1_000_000,
      maxBatchBodyBytes: 20_000_000,
    });
    await app.ready();
  });

  afterAll(async () => {
    await app.close();
    for (const s of Object.values(topology.streams)) await bus.jsm.streams.delete(s.name).catch(() => undefined);
    await bus.close();
  });

  async function stored(): Promise<IngestedRecord[]> {
    const stream = await bus.jsm.streams.get(topology.streams.ingest.name);
    const info = await stream.info();
    const out: IngestedRecord[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await stream.getMessage({ seq }).catch(() => null);
      if (m) out.push(decodeJson<IngestedRecord>(m.data));
    }
    return out;
  }

  const post = (url: string, payload: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    app.inject({ method: 'POST', url, headers, payload: typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload) });

  it('stores every event and answers Amplitude’s 200 only after the acks', async () => {
    const body = {
      api_key: API_KEY,
      client_upload_time: new Date().toISOString(),
      request_metadata: { sdk: {} },
      events: [
        { user_id: 'user-12345', event_type: 'A', insert_id: 'ok-1', event_properties: { price: 1 } },
        { device_id: 'device-9', event_type: 'B', insert_id: 'ok-2', time: 1709566376409 },
      ],
    };
    const res = await post('/2/httpapi', body);
    expect(res.statusCode).toBe(200);
    const json = res.json();
    expect(json).toMatchObject({ code: 200, events_ingested: 2, payload_size_bytes: Buffer.byteLength(JSON.stringify(body)) });
    const records = await stored();
    const mine = records.filter((r) => r.eventKey.startsWith('i:ok-'));
    expect(mine.map((r) => [r.projectId, r.userKey, r.event.event_type])).toEqual([
      ['p1', 'user-12345', 'A'],
      ['p1', 'device-9', 'B'],
    ]);
    expect(mine[0]!.receivedAt).toBeGreaterThan(0);
  });

  it('stores a retried request once (dedup on insert_id)', async () => {
    const body = { api_key: API_KEY, events: [{ user_id: 'user-12345', event_type: 'A', insert_id: 'dup-1' }] };
    expect((await post('/2/httpapi', body)).statusCode).toBe(200);
    expect((await post('/batch', body)).statusCode).toBe(200);
    const copies = (await stored()).filter((r) => r.eventKey === 'i:dup-1');
    expect(copies).toHaveLength(1);
  });

  it('accepts gzip bodies and text/plain (sendBeacon)', async () => {
    const body = { api_key: API_KEY, events: [{ user_id: 'user-12345', event_type: 'gz', insert_id: 'gz-1' }] };
    const gz = await post('/2/httpapi', gzipSync(JSON.stringify(body)), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(gz.statusCode).toBe(200);
    const beacon = await post('/2/httpapi', JSON.stringify({ ...body, events: [{ ...body.events[0], insert_id: 'gz-2' }] }), {
      'content-type': 'text/plain;charset=UTF-8',
    });
    expect(beacon.statusCode).toBe(200);
  });

  it.each([
    ['empty body', '', 400, { code: 400, error: 'Missing request body' }],
    ['not JSON', '{nope', 400, { code: 400, error: 'Invalid JSON request body' }],
    ['unknown key', { api_key: 'unknown-key', events: [{ user_id: 'user-12345', event_type: 'x' }] }, 400, { code: 400, error: 'Invalid API key: unkn…' }],
  ])('%s → %i', async (_name, payload, status, body) => {
    const res = await post('/2/httpapi', payload);
    expect(res.statusCode).toBe(status);
    expect(res.json()).toEqual(body);
  });

  it('answers 413 past the size limit, before or after gunzip', async () => {
    const big = { api_key: API_KEY, events: [{ user_id: 'user-12345', event_type: 'x', event_properties: { s: 'x'.repeat(1_100_000) } }] };
    expect((await post('/2/httpapi', big)).json()).toEqual({ code: 413, error: 'Payload too large' });
    const bomb = gzipSync(Buffer.alloc(5_000_000, 32));
    const res = await post('/2/httpapi', bomb, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(res.statusCode).toBe(413);
    // The batch endpoint takes bodies up to 20 MB, but one event must fit one JetStream message.
    const many = Array.from({ length: 3 }, (_, i) => ({ user_id: 'user-12345', event_type: 'x', insert_id: `big-${i}`, event_properties: { s: 'x'.repeat(600_000) } }));
    expect((await post('/batch', { api_key: API_KEY, events: many })).statusCode).toBe(200);
    const tooBig = await post('/batch', { ...big, events: [{ ...big.events[0], insert_id: 'big-x' }] });
    expect(tooBig.json()).toEqual({ code: 413, error: 'Payload too large' });
  });

  it('takes the Identify API as urlencoded and multipart forms', async () => {
    const identification = JSON.stringify([{ user_id: 'user-12345', user_properties: { plan: 'pro' }, insert_id: 'id-1' }]);
    const form = await post('/identify', new URLSearchParams({ api_key: API_KEY, identification }).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(form.statusCode).toBe(200);
    expect(form.body).toBe('success');
    const boundary = 'XyZ';
    const multipart = [
      `--${boundary}\r\nContent-Disposition: form-data; name="api_key"\r\n\r\n${API_KEY}\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="identification"\r\n\r\n${JSON.stringify({ device_id: 'device-77', user_properties: { a: 1 } })}\r\n`,
      `--${boundary}--\r\n`,
    ].join('');
    const mp = await post('/identify', multipart, { 'content-type': `multipart/form-data; boundary=${boundary}` });
    expect(mp.statusCode).toBe(200);
    const kinds = (await stored()).filter((r) => r.kind === 'identify').map((r) => r.userKey);
    expect(kinds).toEqual(expect.arrayContaining(['user-12345', 'device-77']));
    const missing = await post('/identify', `api_key=${API_KEY}`, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(missing.json()).toEqual({ code: 400, error: 'missing_event' });
  });

  it('answers CORS preflight for browser SDKs', async () => {
    const res = await app.inject({
      method: 'OPTIONS',
      url: '/2/httpapi',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('*');
  });

  it('answers 503 and stores nothing when JetStream cannot take the events', async () => {
    const missing = createTopology({ namespace: `t_absent_${randomBytes(4).toString('hex')}` });
    const config = new ConfigView(logger);
    config.apply({ kind: 'project', id: 'p1', name: 'p', apiKeyHash: hashApiKey(API_KEY), version: 1, deleted: false, updatedAt: '' });
    const metrics = createMetricsRegistry('ingest');
    const broken = buildIngestApp({
      logger,
      metrics,
      ingestMetrics: createIngestMetrics(metrics),
      config,
      publisher: new EventPublisher(bus.js, missing, 1_048_576),
      readiness: {},
      maxBodyBytes: 1_000_000,
      maxBatchBodyBytes: 1_000_000,
    });
    const res = await broken.inject({
      method: 'POST',
      url: '/2/httpapi',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ api_key: API_KEY, events: [{ user_id: 'user-12345', event_type: 'x' }] }),
    });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ code: 503, error: 'Service unavailable' });
    await broken.close();
  });
});
