import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeJson } from '@inkstream/bus';
import type { IngestedRecord } from '@inkstream/contracts';
import { testDrivers, type OpenedTestDatabase } from '../testing/drivers.js';
import { startApp, type AppHarness } from '../testing/harness.js';
import { captureLogs } from '../testing/logs.js';
import { readRecentRecords } from '../recent-events/read-recent-records.js';

const unknownId = '00000000-0000-4000-8000-000000000000';

describe.each(testDrivers)('recent events on $name', (driver) => {
  let database: OpenedTestDatabase;
  let h: AppHarness;
  let shop: string;
  let other: string;

  /** Stores records on the ingest stream as ingest does (any partition will do). */
  const ingest = async (records: Array<Partial<IngestedRecord> & { projectId: string; event: IngestedRecord['event'] }>) => {
    for (const [i, r] of records.entries()) {
      const record: IngestedRecord = { v: 1, kind: 'event', receivedAt: Date.parse('2026-03-04T12:00:00Z') + i * 1000, eventKey: `k${i}`, userKey: 'user-1', ...r };
      await h.nats.bus.js.publish(h.nats.topology.subjects.ingest(i % 16), encodeJson(record));
    }
  };

  beforeAll(async () => {
    database = await driver.open(captureLogs().logger);
    h = await startApp(database.handle);
    shop = (await h.api('POST', '/v1/projects', { name: 'Shop' })).json<{ id: string }>().id;
    other = (await h.api('POST', '/v1/projects', { name: 'Other' })).json<{ id: string }>().id;
  });
  afterAll(async () => {
    await h?.close();
    await database?.dispose();
  });

  it('answers empty lists before anything was ingested', async () => {
    const res = await h.api('GET', `/v1/projects/${shop}/recent-events`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ events: [], scanned: 0 });
    const catalog = await h.api('GET', `/v1/projects/${shop}/event-catalog`);
    expect(catalog.json()).toMatchObject({ eventTypes: [], sampled: 0 });
  });

  it("lists only the project's events, newest first, and sums up their names", async () => {
    await ingest([
      { projectId: shop, event: { event_type: 'Product Viewed', user_id: 'user-1', event_properties: { price: 10, sku: 'a' } } },
      { projectId: other, event: { event_type: 'Secret Thing', user_id: 'user-2', event_properties: { secret: 1 } } },
      { projectId: shop, kind: 'identify', event: { event_type: '$identify', user_id: 'user-1', user_properties: { $set: { email: 'a@b.c' } } } },
      { projectId: shop, event: { event_type: 'Product Viewed', device_id: 'device-1', event_properties: { price: 12 }, platform: 'iOS' } },
    ]);
    // Not a record at all: skipped, never an error.
    await h.nats.bus.js.publish(h.nats.topology.subjects.ingest(3), new TextEncoder().encode('not json'));

    const res = await h.api('GET', `/v1/projects/${shop}/recent-events?limit=2`);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<{ events: Array<{ kind: string; receivedAt: string; event: Record<string, unknown> }>; scanned: number }>();
    expect(body.scanned).toBe(5);
    expect(body.events.map((e) => e.event.event_type)).toEqual(['Product Viewed', '$identify']);
    expect(body.events[0]).toEqual({
      kind: 'event',
      receivedAt: '2026-03-04T12:00:03.000Z',
      event: { event_type: 'Product Viewed', device_id: 'device-1', event_properties: { price: 12 }, platform: 'iOS' },
    });
    expect(body.events[1]!.kind).toBe('identify');

    const catalog = (await h.api('GET', `/v1/projects/${shop}/event-catalog`)).json<Record<string, unknown>>();
    expect(catalog).toEqual({
      eventTypes: [
        { name: 'Product Viewed', count: 2 },
        { name: '$identify', count: 1 },
      ],
      eventProperties: [
        { name: 'price', count: 2 },
        { name: 'sku', count: 1 },
      ],
      userProperties: [{ name: 'email', count: 1 }],
      fields: [
        { name: 'user_id', count: 2 },
        { name: 'device_id', count: 1 },
        { name: 'platform', count: 1 },
      ],
      sampled: 3,
    });
  });

  it('looks no further back than the scan bound', async () => {
    const read = await readRecentRecords(h.nats.bus, h.nats.topology, shop, { limit: 10, scan: 2 });
    // The last two messages are the unreadable one and the device-1 event.
    expect(read.scanned).toBe(2);
    expect(read.records.map((r) => r.event.device_id)).toEqual(['device-1']);
  });

  it('refuses unknown and deleted projects, bad limits and missing tokens', async () => {
    expect((await h.api('GET', `/v1/projects/${unknownId}/recent-events`)).statusCode).toBe(404);
    expect((await h.api('GET', `/v1/projects/${unknownId}/event-catalog`)).statusCode).toBe(404);
    const limit = await h.api('GET', `/v1/projects/${shop}/recent-events?limit=0`);
    expect(limit.statusCode).toBe(400);
    expect(limit.json<{ message: string }>().message).toContain('limit');
    expect((await h.api('GET', `/v1/projects/${shop}/recent-events?limit=201`)).statusCode).toBe(400);
    expect((await h.app.inject({ method: 'GET', url: `/v1/projects/${shop}/recent-events` })).statusCode).toBe(401);
    expect((await h.api('DELETE', `/v1/projects/${other}`)).statusCode).toBe(204);
    expect((await h.api('GET', `/v1/projects/${other}/recent-events`)).statusCode).toBe(404);
  });
});
