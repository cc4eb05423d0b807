/**
 * Ingest writes one JetStream message per (request, partition): a segment of all the request's
 * records of that partition, split when it would not fit a message; a byte-identical retry
 * dedupes at the stream; one PRODUCER span per segment.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '@inkstream/bus';
import { recordsOfIngestMessage, type AmplitudeEvent, type IngestedRecord, type IngestedSegment } from '@inkstream/contracts';
import { createMetricsRegistry } from '@inkstream/service-kit';
import { SpanKind, startTestTelemetry } from '@inkstream/telemetry/testing';
import { acceptEvents, acceptEventsBody } from './accept-events.js';
import { scanEventsBody } from './json-budget.js';
import { EventPublisher, EventTooLargeError, SEGMENT_HEADROOM_BYTES, segmentsOf } from './event-publisher.js';
import { segmentMessageId } from './event-key.js';
import { createIngestMetrics } from './metrics.js';
import { startIngestHarness, type IngestHarness } from './test-support/ingest-harness.js';

const json = { 'content-type': 'application/json' };
const decoder = new TextDecoder();

function recordsOf(events: AmplitudeEvent[]): IngestedRecord[] {
  const accepted = acceptEvents(events, 'event', 'p1', 5, 1_700_000_000_000);
  if (!accepted.ok) throw new Error('not accepted');
  return accepted.records;
}

/** Users of distinct partitions, and several users of one partition. */
function usersOn(partitions: number, perPartition: number): string[][] {
  const by = new Map<number, string[]>();
  for (let i = 0; [...by.values()].filter((l) => l.length >= perPartition).length < partitions; i++) {
    const user = `user-seg-${i}`;
    const list = by.get(partitionOf(user)) ?? [];
    if (list.length < perPartition) list.push(user);
    by.set(partitionOf(user), list);
  }
  return [...by.values()].filter((l) => l.length >= perPartition).slice(0, partitions);
}

const event = (user: string, id: string, padding = 0): AmplitudeEvent => ({
  user_id: user,
  event_type: 'Seg',
  insert_id: id,
  ...(padding > 0 ? { event_properties: { pad: 'x'.repeat(padding) } } : {}),
});

describe('segmentsOf', () => {
  it('groups a request’s records by partition, in request order, and keeps a repeated event once', () => {
    const [[a1, a2], [b1]] = usersOn(2, 2) as [[string, string], [string, string]];
    const records = recordsOf([event(a1, 'e1'), event(b1, 'e2'), event(a2, 'e3'), event(a1, 'e1'), event(b1, 'e4')]);
    const { segments, duplicates } = segmentsOf(records, 1_000_000, 1_048_576);
    expect(duplicates).toBe(1);
    expect(segments.map((s) => s.partition)).toEqual([partitionOf(a1), partitionOf(b1)]);
    expect(segments.map((s) => s.keys)).toEqual([
      ['i:e1', 'i:e3'],
      ['i:e2', 'i:e4'],
    ]);
    const decoded = JSON.parse(decoder.decode(segments[0]!.data)) as IngestedSegment;
    expect(decoded).toMatchObject({ v: 2, projectId: 'p1', receivedAt: 1_700_000_000_000 });
    expect(recordsOfIngestMessage(decoded)).toEqual([records[0], records[2]]);
  });

  it('splits a partition’s records into consecutive segments that each fit, and refuses a record that alone does not', () => {
    const [[user]] = usersOn(1, 1) as [[string]];
    const records = recordsOf(Array.from({ length: 40 }, (_, i) => event(user, `split-${i}`, 400)));
    const maxBytes = 5_000;
    const { segments } = segmentsOf(records, maxBytes, maxBytes + SEGMENT_HEADROOM_BYTES);
    expect(segments.length).toBeGreaterThan(3);
    for (const s of segments) expect(s.data.length).toBeLessThanOrEqual(maxBytes);
    const back = segments.flatMap((s) => recordsOfIngestMessage(JSON.parse(decoder.decode(s.data))));
    expect(back).toEqual(records);
    expect(() => segmentsOf(recordsOf([event(user, 'huge', 6_000)]), maxBytes, maxBytes + SEGMENT_HEADROOM_BYTES)).toThrow(EventTooLargeError);
  });

  it('writes a request’s segments side by side into one buffer, each exactly its own bytes', () => {
    const [[a], [b]] = usersOn(2, 1) as [[string], [string]];
    const events = Array.from({ length: 30 }, (_, i) => event(i % 3 === 0 ? b : a, `side-${i}`, 300));
    const records = recordsOf(events);
    const maxBytes = 4_000;
    const { segments } = segmentsOf(records, maxBytes, maxBytes + SEGMENT_HEADROOM_BYTES);
    expect(new Set(segments.map((s) => s.partition)).size).toBe(2);
    expect(segments.length).toBeGreaterThan(2);
    let end = segments[0]!.data.byteOffset;
    for (const s of segments) {
      expect(s.data.buffer).toBe(segments[0]!.data.buffer);
      expect(s.data.byteOffset).toBe(end);
      end += s.data.length;
      expect(s.data.length).toBeLessThanOrEqual(maxBytes);
      const message = JSON.parse(decoder.decode(s.data)) as IngestedSegment;
      expect(Buffer.from(s.data).equals(Buffer.from(JSON.stringify(message)))).toBe(true);
      expect(message.records.map((r) => r.eventKey)).toEqual(s.keys);
    }
    const back = segments.flatMap((s) => recordsOfIngestMessage(JSON.parse(decoder.decode(s.data))));
    expect(back.sort((x, y) => x.eventKey.localeCompare(y.eventKey))).toEqual([...records].sort((x, y) => x.eventKey.localeCompare(y.eventKey)));
  });

  it('carries an accepted event as the client’s own bytes when they read back the same, and serialises it otherwise', () => {
    const [[user]] = usersOn(1, 1) as [[string]];
    const verbatim = `{ "user_id" : ${JSON.stringify(user)}, "event_type":"V\\u00e9", "insert_id":"raw-1" }`;
    const withNull = `{"user_id":${JSON.stringify(user)},"event_type":"V","insert_id":"raw-2","device_id":null}`;
    const withExponent = `{"user_id":${JSON.stringify(user)},"event_type":"V","insert_id":"raw-3","p":1e400}`;
    const bytes = Buffer.from(`{"api_key":"k","events":[${verbatim},${withNull},${withExponent}]}`);
    const scan = scanEventsBody(bytes);
    if (scan.overBudget) throw new Error('over budget');
    const accepted = acceptEventsBody(JSON.parse(bytes.toString()), () => ({ id: 'p1' }) as never, 1, { bytes, spans: scan.events });
    if (!accepted.ok) throw new Error('not accepted');
    expect(accepted.records.map((r) => r.eventJson !== undefined)).toEqual([true, false, false]);
    const { segments } = segmentsOf(accepted.records, 1_000_000, 1_048_576);
    const text = decoder.decode(segments[0]!.data);
    expect(text).toContain(verbatim);
    expect(text).toContain('"insert_id":"raw-2"}');
    expect(text).toContain('"p":null');
    expect(recordsOfIngestMessage(JSON.parse(text))).toEqual(accepted.records.map(({ eventJson: _, ...r }) => JSON.parse(JSON.stringify(r))));
  });

  it('writes the keys of a verbatim record as JSON.stringify would, plain ASCII or not', () => {
    // Each id on its own, in the user and insert ids: plain, quote, backslash, control, DEL,
    // non-ASCII, a surrogate pair and a lone surrogate.
    const ids = ['plain-id-12345', 'q"uote-12345', 'back\\slash-1', 'ctl\u0001-12345', 'del\u007f-12345', 'gerät-東京-1', 'emoji-😀-123', 'lone-\ud800-123'];
    const events = ids.map((id) => ({ user_id: `u-${id}`, event_type: 'K', insert_id: id }));
    const bytes = Buffer.from(JSON.stringify({ api_key: 'k', events }));
    const scan = scanEventsBody(bytes);
    if (scan.overBudget) throw new Error('over budget');
    const accepted = acceptEventsBody(JSON.parse(bytes.toString()) as unknown, () => ({ id: 'p1' }) as never, 1, { bytes, spans: scan.events });
    if (!accepted.ok) throw new Error('not accepted');
    expect(accepted.records.every((r) => r.eventJson !== undefined)).toBe(true);
    const { segments } = segmentsOf(accepted.records, 1_000_000, 1_048_576);
    for (const segment of segments) {
      const message = JSON.parse(decoder.decode(segment.data)) as IngestedSegment;
      // Byte for byte what JSON.stringify writes for the same segment (the events were sent compact).
      expect(Buffer.from(segment.data).equals(Buffer.from(JSON.stringify(message)))).toBe(true);
      for (const r of message.records) expect(r.eventKey).toBe(`i:${r.event.insert_id}`);
    }
    expect(segments.flatMap((s) => s.keys).sort()).toEqual(ids.map((id) => `i:${id}`).sort());
  });

  it('names a segment by its project and sorted event keys', () => {
    expect(segmentMessageId('p1', ['i:b', 'i:a'])).toBe(segmentMessageId('p1', ['i:a', 'i:b']));
    expect(segmentMessageId('p1', ['i:a', 'i:b'])).not.toBe(segmentMessageId('p2', ['i:a', 'i:b']));
    expect(segmentMessageId('p1', ['i:a', 'i:b'])).not.toBe(segmentMessageId('p1', ['i:a']));
    // The ids of earlier versions, so a retry across an upgrade still dedupes.
    const before = (projectId: string, keys: string[]) => {
      const h = createHash('sha256').update(projectId);
      for (const key of [...keys].sort()) h.update('\u0000').update(key);
      return h.digest('base64url');
    };
    const keys = ['i:zeta', 'h:Q2xpZW50', 'i:ünï-😀', 'i:a\u0000b', 'i:'];
    expect(segmentMessageId('proj-é', keys)).toBe(before('proj-é', keys));
    expect(segmentMessageId('p1', ['i:one'])).toBe(before('p1', ['i:one']));
  });
});

describe('segments in the ingest stream', () => {
  let h: IngestHarness;

  beforeAll(async () => {
    h = await startIngestHarness('segments');
  });

  afterAll(async () => {
    await h.close();
  });

  const countsOf = async (registry: ReturnType<typeof createMetricsRegistry>) => {
    const metric = await registry.getSingleMetric('inkstream_ingest_events_total')!.get();
    return Object.fromEntries(metric.values.map((v) => [v.labels.outcome, v.value]));
  };

  it('one message per partition of a request; a byte-identical retry is a duplicate at the stream, its events counted as duplicates', async () => {
    const groups = usersOn(3, 2);
    const events = groups.flatMap((users, g) => users.flatMap((u) => [event(u, `one-${g}-${u}-a`), event(u, `one-${g}-${u}-b`)]));
    const metrics = createMetricsRegistry('ingest');
    const app = h.buildApp({ metrics, ingestMetrics: createIngestMetrics(metrics) });
    const body = JSON.stringify({ api_key: h.apiKey, events });
    const res = await app.inject({ method: 'POST', url: '/2/httpapi', headers: json, payload: body });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ events_ingested: 12 });
    const mine = async () => (await h.storedSegments()).filter((s) => recordsOfIngestMessage(s.message).some((r) => r.eventKey.startsWith('i:one-')));
    const segments = await mine();
    expect(segments).toHaveLength(3);
    for (const s of segments) {
      expect(s.message.v).toBe(2);
      const records = recordsOfIngestMessage(s.message);
      expect(records).toHaveLength(4);
      expect(new Set(records.map((r) => h.topology.subjects.ingest(partitionOf(r.userKey))))).toEqual(new Set([s.subject]));
    }
    expect(await countsOf(metrics)).toEqual({ stored: 12 });

    const retry = await app.inject({ method: 'POST', url: '/batch', headers: json, payload: body });
    expect(retry.statusCode).toBe(200);
    expect(await mine()).toHaveLength(3);
    expect(await countsOf(metrics)).toEqual({ stored: 12, duplicate: 12 });
  });

  it('a request too large for one message per partition is stored in several segments, in order, every one acknowledged before the 200', async () => {
    const [[user]] = usersOn(1, 1) as [[string]];
    const publisher = new EventPublisher(h.bus.nc, h.topology, 8_000);
    const app = h.buildApp({ publisher });
    const events = Array.from({ length: 30 }, (_, i) => event(user, `big-${i}`, 500));
    const res = await app.inject({ method: 'POST', url: '/2/httpapi', headers: json, payload: JSON.stringify({ api_key: h.apiKey, events }) });
    expect(res.statusCode).toBe(200);
    // Nothing to wait for: the 200 came after every segment was acknowledged.
    const segments = (await h.storedSegments()).filter((s) => recordsOfIngestMessage(s.message).some((r) => r.eventKey.startsWith('i:big-')));
    expect(segments.length).toBeGreaterThan(2);
    for (const s of segments) expect(Buffer.byteLength(JSON.stringify(s.message))).toBeLessThanOrEqual(8_000 - SEGMENT_HEADROOM_BYTES);
    expect(segments.flatMap((s) => recordsOfIngestMessage(s.message)).map((r) => r.event.insert_id)).toEqual(events.map((e) => e.insert_id));
    publisher.close();
  });

  it('stores each event exactly as validation accepted it, whether its own JSON text is reused or it is serialised again', async () => {
    const app = h.buildApp();
    // Spacing and escapes are kept as sent; top-level nulls, -0 and literals that overflow are
    // what JSON.stringify of the parsed event would store.
    const texts = [
      '{ "user_id" : "user-verbatim", "event_type":"V\\u00e9", "insert_id":"vb-1",\n "event_properties": {"a": [1, 2.50, {"b": "x\\"]}"}], "lone": "\\ud800"} }',
      '{"user_id":"user-verbatim","event_type":"V","insert_id":"vb-2","device_id":null,"event_properties":{"n":null}}',
      '{"user_id":"user-verbatim","event_type":"V","insert_id":"vb-3","event_properties":{"neg":-0,"big":1e400,"small":-1e-400}}',
      '{"user_id":"user-verbatim","event_type":"V","event_properties":{"no_insert_id":true}}',
      '{"user_id":"user-verbatim","event_type":"V","insert_id":"vb-5","user_id":"user-verbatim-last"}',
    ];
    const body = `{"api_key":${JSON.stringify(h.apiKey)},"events":[${texts.join(' ,\n')}]}`;
    const res = await app.inject({ method: 'POST', url: '/2/httpapi', headers: json, payload: body });
    expect(res.statusCode).toBe(200);
    const expected = acceptEvents(texts.map((t) => JSON.parse(t) as unknown), 'event', 'p1', 5, 0);
    if (!expected.ok) throw new Error('not accepted');
    const keys = new Set(expected.records.map((r) => r.eventKey));
    const stored = (await h.stored()).filter((r) => keys.has(r.eventKey));
    const roundTrip = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;
    expect(stored.map((r) => [r.eventKey, r.userKey, r.event])).toEqual(expected.records.map((r) => [r.eventKey, r.userKey, roundTrip(r.event)]));
    expect(stored[1]!.event).not.toHaveProperty('device_id');
    expect(Object.is((stored[2]!.event.event_properties as Record<string, unknown>).neg, 0)).toBe(true);
    expect(stored[2]!.event.event_properties).toMatchObject({ big: null, small: 0 });
    expect(stored[3]!.eventKey).toMatch(/^h:/);
    expect(stored[4]!.userKey).toBe('user-verbatim-last');
  });

  it('stores ids and properties with non-ASCII text, escaped quotes and unicode escapes byte for byte as sent, under a message id that does not depend on the text', async () => {
    const app = h.buildApp();
    const [[user]] = usersOn(1, 1) as [[string]];
    // Raw UTF-8 (2-, 3- and 4-byte), escaped quotes and backslashes, \u escapes (a BMP one, a
    // surrogate pair, a control character), in the ids and in the properties.
    const texts = [
      String.raw`{"user_id":${JSON.stringify(user)},"device_id":"gerät-東京-😀","event_type":"Käufe \"Zürich\"","insert_id":"uni-1-\u00e9-\"q\"-\\-東-😀","event_properties":{"name":"Crème brûlée \"deluxe\"","path":"C:\\tmp\\x","emoji":"\ud83d\ude00 😀","ctl":"a\u0007b\tc","nested":{"日本":["ß",  "\u00df"]}}}`,
      String.raw`{ "user_id" : ${JSON.stringify(user)} , "event_type" : "Ünïcödé" , "insert_id" : "uni-2-\ud83d\ude00\u0041" , "user_properties" : { "$set" : { "city" : "São Paulo \"SP\"" } } }`,
    ];
    const body = `{"api_key":${JSON.stringify(h.apiKey)},"events":[${texts.join(',')}]}`;
    const res = await app.inject({ method: 'POST', url: '/2/httpapi', headers: { 'content-type': 'application/json; charset=utf-8' }, payload: Buffer.from(body, 'utf8') });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ events_ingested: 2 });

    const parsed = texts.map((t) => JSON.parse(t) as AmplitudeEvent);
    const keys = parsed.map((e) => `i:${e.insert_id}`);
    expect(keys[0]).toBe('i:uni-1-é-"q"-\\-東-😀');
    expect(keys[1]).toBe('i:uni-2-😀A');
    const mine = async () => (await h.storedSegments()).filter((s) => recordsOfIngestMessage(s.message).some((r) => r.eventKey.startsWith('i:uni-')));
    const [segment, ...others] = await mine();
    expect(others).toHaveLength(0);
    // The client's own bytes, each event whole, inside the stored message…
    const stored = Buffer.from(segment!.data);
    for (const text of texts) expect(stored.indexOf(Buffer.from(text, 'utf8'))).toBeGreaterThan(0);
    // …which read back as exactly what the client sent.
    const records = recordsOfIngestMessage(segment!.message);
    expect(records.map((r) => r.event)).toEqual(parsed);
    expect(records.map((r) => r.eventKey)).toEqual(keys);
    expect(records.map((r) => r.userKey)).toEqual([user, user]);
    // The message id is the project's and the event keys' (not the text's)…
    expect(segment!.headers['nats-msg-id']).toBe(segmentMessageId('p1', keys));

    // …so the same events re-serialised (no escapes, other spacing, other order) are a duplicate.
    const again = await app.inject({
      method: 'POST',
      url: '/batch',
      headers: json,
      payload: JSON.stringify({ api_key: h.apiKey, events: [...parsed].reverse() }),
    });
    expect(again.statusCode).toBe(200);
    expect(await mine()).toHaveLength(1);
  });

  it('publishes each segment in one PRODUCER span of the request’s trace, whose context the segment carries', async () => {
    const telemetry = startTestTelemetry();
    try {
      const app = h.buildApp();
      await app.ready();
      const traceId = '5bf92f3577b34da6a3ce929d0e0e4736';
      const groups = usersOn(2, 3);
      const events = groups.flatMap((users) => users.map((u) => event(u, `span-${u}`)));
      const res = await app.inject({
        method: 'POST',
        url: '/2/httpapi',
        headers: { ...json, traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
        payload: JSON.stringify({ api_key: h.apiKey, events }),
      });
      expect(res.statusCode).toBe(200);
      const producers = telemetry.trace(traceId).filter((s) => s.kind === SpanKind.PRODUCER);
      expect(producers).toHaveLength(2);
      const segments = (await h.storedSegments()).filter((s) => recordsOfIngestMessage(s.message).some((r) => r.eventKey.startsWith('i:span-')));
      expect(segments.map((s) => s.headers.traceparent).sort()).toEqual(producers.map((p) => `00-${traceId}-${p.spanContext().spanId}-01`).sort());
    } finally {
      await telemetry.stop();
    }
  });
});
