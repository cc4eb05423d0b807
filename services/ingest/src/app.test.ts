/**
 * What ingest stores and how it behaves where the spec asks more than Amplitude's answers
 * show: records, deduplication, trace context, choices where the spec is silent, and that an
 * api_key never reaches a log line. The response table itself is proven in
 * sdk-conformance.test.ts, bad input in fuzz.test.ts.
 */
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '@inkstream/bus';
import { REDACTED_PATHS, createLogger, type Server } from '@inkstream/service-kit';
import { SpanKind, startTestTelemetry } from '@inkstream/telemetry/testing';
import { startIngestHarness, type IngestHarness } from './test-support/ingest-harness.js';

const json = { 'content-type': 'application/json' };

describe('ingest app against real JetStream', () => {
  let h: IngestHarness;
  let app: Server;

  beforeAll(async () => {
    h = await startIngestHarness('app');
    app = h.buildApp();
    await app.ready();
  });

  afterAll(async () => {
    await h.close();
  });

  const post = (url: string, payload: unknown, headers: Record<string, string> = json) =>
    app.inject({ method: 'POST', url, headers, payload: typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload) });
  const storedWith = async (insertId: string) => (await h.stored()).filter((r) => r.event.insert_id === insertId);

  it('stores one record per event, on the user’s partition, before answering 200', async () => {
    const body = {
      api_key: h.apiKey,
      events: [
        { user_id: 'user-12345', device_id: null, event_type: 'A', insert_id: 'rec-1', event_properties: { price: 1 } },
        { device_id: 'device-9', event_type: 'B', insert_id: 'rec-2', time: 1709566376409, custom_field: { kept: true } },
      ],
    };
    const res = await post('/2/httpapi', body);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ code: 200, events_ingested: 2, payload_size_bytes: Buffer.byteLength(JSON.stringify(body)) });
    const messages = (await h.storedMessages()).filter((m) => m.record.event.insert_id?.startsWith('rec-'));
    expect(messages.map((m) => m.subject)).toEqual([h.topology.subjects.ingest(partitionOf('user-12345')), h.topology.subjects.ingest(partitionOf('device-9'))]);
    const [first, second] = messages.map((m) => m.record);
    expect(first).toEqual({
      v: 1,
      kind: 'event',
      projectId: 'p1',
      receivedAt: expect.any(Number),
      eventKey: 'i:rec-1',
      userKey: 'user-12345',
      // JSON nulls are absent fields, as for Amplitude.
      event: { user_id: 'user-12345', event_type: 'A', insert_id: 'rec-1', event_properties: { price: 1 } },
    });
    expect(second!.event).toEqual(body.events[1]);
  });

  it('stores a retried request once, with or without insert_id', async () => {
    const withIds = { api_key: h.apiKey, events: [{ user_id: 'user-12345', event_type: 'A', insert_id: 'dup-1' }] };
    expect((await post('/2/httpapi', withIds)).statusCode).toBe(200);
    expect((await post('/batch', withIds)).statusCode).toBe(200);
    expect(await storedWith('dup-1')).toHaveLength(1);

    const withoutIds = { api_key: h.apiKey, events: [{ user_id: 'user-12345', event_type: 'No Insert Id', time: 1709566376409, event_properties: { n: 7 } }] };
    expect((await post('/2/httpapi', withoutIds)).statusCode).toBe(200);
    expect((await post('/2/httpapi', withoutIds)).json()).toMatchObject({ code: 200, events_ingested: 1 });
    const copies = (await h.stored()).filter((r) => r.event.event_type === 'No Insert Id');
    expect(copies).toHaveLength(1);
    expect(copies[0]!.eventKey).toMatch(/^h:/);
  });

  it('stores each segment (here one per user: two partitions) in a PRODUCER span of the request’s trace, whose context the message carries', async () => {
    const telemetry = startTestTelemetry();
    try {
      // Built after telemetry started: the fastify instrumentation hooks apps as they are created.
      const traced = h.buildApp();
      await traced.ready();
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const clientSpan = '00f067aa0ba902b7';
      const events = (prefix: string) => ({ api_key: h.apiKey, events: [1, 2].map((i) => ({ user_id: `user-${i}2345`, event_type: 'Traced', insert_id: `${prefix}-${i}` })) });
      const send = (prefix: string, headers: Record<string, string>) =>
        traced.inject({ method: 'POST', url: '/2/httpapi', headers: { ...json, ...headers }, payload: JSON.stringify(events(prefix)) });
      expect((await send('trace', { traceparent: `00-${traceId}-${clientSpan}-01`, tracestate: 'vendor=abc' })).statusCode).toBe(200);
      expect((await send('bad-trace', { traceparent: `00-${'0'.repeat(32)}-${clientSpan}-01`, tracestate: 'vendor=abc' })).statusCode).toBe(200);

      const spans = telemetry.trace(traceId);
      const server = spans.find((s) => s.kind === SpanKind.SERVER)!;
      expect(server.parentSpanContext?.spanId).toBe(clientSpan);
      const producers = spans.filter((s) => s.kind === SpanKind.PRODUCER);
      expect(producers).toHaveLength(2);
      const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
      for (const producer of producers) {
        // publish → route handler → request, all in the client's trace.
        let span = producer;
        while (span.parentSpanContext && byId.has(span.parentSpanContext.spanId)) span = byId.get(span.parentSpanContext.spanId)!;
        expect(span).toBe(server);
        expect(producer.name).toBe(`publish ${h.topology.subjectTemplates.ingest}`);
        expect(producer.attributes).toMatchObject({ 'messaging.system': 'nats', 'messaging.operation.type': 'send' });
      }

      const messages = await h.storedMessages();
      const stored = messages.filter((m) => m.record.event.insert_id?.startsWith('trace-'));
      expect(stored.map((m) => m.headers.traceparent).sort()).toEqual(producers.map((p) => `00-${traceId}-${p.spanContext().spanId}-01`).sort());
      for (const m of stored) expect(m.headers.tracestate).toBe('vendor=abc');
      // A malformed client context is ignored: the request gets a trace of its own.
      for (const m of messages.filter((m) => m.record.event.insert_id?.startsWith('bad-trace-'))) {
        expect(m.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
        expect(m.headers.traceparent).not.toContain('0'.repeat(32));
        expect(m.headers.tracestate).toBeUndefined();
      }
    } finally {
      await telemetry.stop();
    }
  });

  it('carries an unsampled request’s own context on each segment, without a PRODUCER span per segment', async () => {
    const telemetry = startTestTelemetry();
    try {
      const traced = h.buildApp();
      await traced.ready();
      const traceId = '5cf92f3577b34da6a3ce929d0e0e4737';
      const clientSpan = '01f067aa0ba902b8';
      const body = { api_key: h.apiKey, events: [1, 2].map((i) => ({ user_id: `user-${i}2345`, event_type: 'Unsampled', insert_id: `unsampled-${i}` })) };
      const res = await traced.inject({
        method: 'POST',
        url: '/2/httpapi',
        headers: { ...json, traceparent: `00-${traceId}-${clientSpan}-00`, tracestate: 'vendor=abc' },
        payload: JSON.stringify(body),
      });
      expect(res.statusCode).toBe(200);
      // The client asked for no recording: nothing of this trace is recorded…
      expect(telemetry.trace(traceId)).toHaveLength(0);
      // …but every segment still carries the trace id (and state), unsampled, to the filter.
      const stored = (await h.storedMessages()).filter((m) => m.record.event.insert_id?.startsWith('unsampled-'));
      expect(stored).toHaveLength(2);
      for (const m of stored) {
        expect(m.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
        expect(m.headers.tracestate).toBe('vendor=abc');
      }
    } finally {
      await telemetry.stop();
    }
  });

  it('without an exporter: carries the client’s trace on each segment and in the request’s log line, without entering a context', async () => {
    const telemetry = startTestTelemetry({ sampling: 'propagate-only' });
    try {
      const lines: Array<Record<string, unknown>> = [];
      const logger = createLogger('ingest-test', 'info', new Writable({
        write(chunk, _encoding, done) {
          lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
          done();
        },
      }));
      const untraced = h.buildApp({ logger });
      await untraced.ready();
      const traceId = '6df92f3577b34da6a3ce929d0e0e4738';
      const clientSpan = '02f067aa0ba902b9';
      const body = { api_key: h.apiKey, events: [1, 2].map((i) => ({ user_id: `user-${i}2345`, event_type: 'Propagated', insert_id: `propagated-${i}` })) };
      const res = await untraced.inject({
        method: 'POST',
        url: '/2/httpapi',
        headers: { ...json, traceparent: `00-${traceId}-${clientSpan}-01`, tracestate: 'vendor=abc' },
        payload: JSON.stringify(body),
      });
      expect(res.statusCode).toBe(200);
      expect((await untraced.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      // One span per request (not recorded), its context on every segment: marked "not sampled".
      const stored = (await h.storedMessages()).filter((m) => m.record.event.insert_id?.startsWith('propagated-'));
      expect(stored).toHaveLength(2);
      const parents = new Set(stored.map((m) => m.headers.traceparent));
      expect(parents.size).toBe(1);
      const [parent] = [...parents];
      expect(parent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
      expect(parent).not.toContain(clientSpan);
      for (const m of stored) expect(m.headers.tracestate).toBe('vendor=abc');
      // The request's log line carries that span's ids.
      const line = lines.find((l) => l.msg === 'request' && l.url === '/2/httpapi');
      expect(line).toMatchObject({ trace_id: traceId, span_id: parent!.slice(36, 52), status: 200 });
      // No context was entered (on Node 20 that turns on async_hooks' promise hooks for good).
      expect(telemetry.contextsEntered()).toBe(0);
      expect(telemetry.spans()).toEqual([]);
    } finally {
      await telemetry.stop();
    }
  });

  describe('choices where the spec is silent', () => {
    it('refuses with 413 an event that cannot fit one JetStream message, even on /batch', async () => {
      const big = { user_id: 'user-12345', event_type: 'Huge', insert_id: 'too-big', event_properties: { s: 'x'.repeat(h.maxPayload) } };
      const res = await post('/batch', { api_key: h.apiKey, events: [{ user_id: 'user-12345', event_type: 'Small', insert_id: 'beside-too-big' }, big] });
      expect(res.statusCode).toBe(413);
      expect(res.json()).toEqual({ code: 413, error: 'Payload too large' });
      // All or nothing: the small one beside it is not stored either.
      expect(await storedWith('beside-too-big')).toHaveLength(0);
    });

    it('stores long property strings untruncated', async () => {
      const long = 'ü'.repeat(300_000);
      expect((await post('/batch', { api_key: h.apiKey, events: [{ user_id: 'user-12345', event_type: 'Long', insert_id: 'long-1', event_properties: { long } }] })).statusCode).toBe(200);
      const [record] = await storedWith('long-1');
      expect((record!.event.event_properties as { long: string }).long).toBe(long);
    });

    it('answers an unknown Content-Encoding with 415', async () => {
      const res = await post('/2/httpapi', '{}', { ...json, 'content-encoding': 'zstd' });
      expect(res.statusCode).toBe(415);
      expect(res.json()).toEqual({ code: 415, error: 'Unsupported Content-Type or Content-Encoding' });
    });

    it('refuses with 413 a body whose JSON would be too costly to parse', async () => {
      const res = await post('/batch', `{"api_key":"${h.apiKey}","events":[${Array.from({ length: 1_000_001 }, () => '0').join(',')}]}`);
      expect(res.statusCode).toBe(413);
      expect(res.json()).toEqual({ code: 413, error: 'Payload too large' });
    });

    it('answers what Node’s HTTP parser refuses in Amplitude’s shape too', async () => {
      const url = new URL((await h.serve(h.buildApp()))('/'));
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(url.port), '127.0.0.1');
        let out = '';
        socket.on('data', (chunk) => (out += chunk.toString('latin1')));
        socket.on('error', reject);
        socket.on('close', () => resolve(out));
        socket.end('POST /2/httpapi HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{"api_key":');
      });
      expect(raw).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toEqual({ code: 400, error: 'Bad request' });
    });
  });

  it('never writes an api_key to the log, whatever the request', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'trace', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const logged = h.buildApp({ logger });
    const unavailable = h.buildUnavailableApp({ logger });
    const unknownKey = 'unknown-secret-key-7f3a9c';
    const event = { user_id: 'user-12345', event_type: 'Logged' };
    const requests: Array<[Server, string, string, Record<string, string>]> = [
      [logged, '/2/httpapi', JSON.stringify({ api_key: h.apiKey, events: [event] }), json],
      [logged, '/batch', JSON.stringify({ api_key: unknownKey, events: [event] }), json],
      [logged, '/2/httpapi', JSON.stringify({ api_key: h.apiKey, events: [{ ...event, user_id: 'abc' }] }), json],
      [logged, '/2/httpapi', `{"api_key":"${h.apiKey}", broken`, json],
      [logged, '/2/httpapi', JSON.stringify({ api_key: h.apiKey, events: [event] }), { ...json, 'content-encoding': 'gzip' }],
      [logged, `/2/httpapi/nowhere?api_key=${h.apiKey}`, '{}', json],
      [logged, `/identify?api_key=${h.apiKey}`, new URLSearchParams({ api_key: h.apiKey, identification: JSON.stringify(event) }).toString(), { 'content-type': 'application/x-www-form-urlencoded' }],
      [logged, '/identify', new URLSearchParams({ api_key: unknownKey, identification: '{' }).toString(), { 'content-type': 'application/x-www-form-urlencoded' }],
      [unavailable, '/2/httpapi', JSON.stringify({ api_key: h.apiKey, events: [event] }), json],
    ];
    for (const [target, url, payload, headers] of requests) {
      const res = await target.inject({ method: 'POST', url, headers, payload });
      expect(res.statusCode).toBeLessThan(600);
    }
    const text = lines.join('');
    // The capture works: one summary per request and the publish failure were written.
    expect(lines.filter((l) => JSON.parse(l).msg === 'request')).toHaveLength(requests.length);
    expect(text).toContain('publish to JetStream failed');
    expect(text).not.toContain(h.apiKey);
    expect(text).not.toContain(h.apiKey.slice(0, 12));
    expect(text).not.toContain(unknownKey);
  });
});
