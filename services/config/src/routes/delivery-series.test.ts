import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveryMinutes } from '../db/schema.js';
import { testDrivers, type OpenedTestDatabase } from '../testing/drivers.js';
import { startApp, syncBody, type AppHarness } from '../testing/harness.js';
import { captureLogs } from '../testing/logs.js';
import type { DeliverySeries } from '../delivery-series/series-buckets.js';

const MINUTE = 60_000;
const unknownId = '00000000-0000-4000-8000-000000000000';

describe.each(testDrivers)('delivery series on $name', (driver) => {
  let database: OpenedTestDatabase;
  let h: AppHarness;
  let syncId: string;

  beforeAll(async () => {
    database = await driver.open(captureLogs().logger);
    h = await startApp(database.handle);
    const projectId = (await h.api('POST', '/v1/projects', { name: 'Shop' })).json<{ id: string }>().id;
    syncId = (await h.api('POST', `/v1/projects/${projectId}/syncs`, syncBody())).json<{ id: string }>().id;
  });
  afterAll(async () => {
    await h?.close();
    await database?.dispose();
  });

  it('answers the window in buckets whose sums match the metrics', async () => {
    const thisMinute = Math.floor(Date.now() / MINUTE) * MINUTE;
    await database.handle.db.insert(deliveryMinutes).values([
      { syncId, minute: new Date(thisMinute - 2 * MINUTE), delivered: 5, deliveredFirstAttempt: 4, deliveredAfterRetry: 1, attempts2xx: 5, attempts5xx: 2, retried: 2 },
      { syncId, minute: new Date(thisMinute - 30 * MINUTE), delivered: 1, expired: 2, discarded: 1, attempts2xx: 1, attemptsError: 3 },
      { syncId, minute: new Date(thisMinute - 3 * 60 * MINUTE), delivered: 100 },
    ]);
    const res = await h.api('GET', `/v1/syncs/${syncId}/metrics/series?period=ONE_HOUR`);
    expect(res.statusCode, res.body).toBe(200);
    const series = res.json<DeliverySeries>();
    expect(series.timePeriod).toBe('ONE_HOUR');
    expect(series.bucketSeconds).toBe(60);
    expect(series.points).toHaveLength(60);
    const sum = (key: 'delivered' | 'notDelivered' | 'failedAttempts') => series.points.reduce((s, p) => s + p[key], 0);
    expect([sum('delivered'), sum('notDelivered'), sum('failedAttempts')]).toEqual([6, 3, 5]);
    expect(series.points.at(-3)).toMatchObject({ start: new Date(thisMinute - 2 * MINUTE).toISOString(), delivered: 5, failedAttempts: 2 });

    const metrics = (await h.api('GET', `/v1/syncs/${syncId}/metrics?period=ONE_HOUR`)).json<{ eventsDelivered: number; eventsNotDelivered: number }>();
    expect([metrics.eventsDelivered, metrics.eventsNotDelivered]).toEqual([6, 3]);

    const day = (await h.api('GET', `/v1/syncs/${syncId}/metrics/series`)).json<DeliverySeries>();
    expect(day.timePeriod).toBe('ONE_DAY');
    expect(day.points).toHaveLength(48);
    expect(day.points.reduce((s, p) => s + p.delivered, 0)).toBe(106);
  });

  it('takes a custom range and refuses bad queries and unknown syncs', async () => {
    const custom = await h.api('GET', `/v1/syncs/${syncId}/metrics/series?start=2026-01-01T00:00:00Z&end=2026-01-01T00:10:00Z`);
    expect(custom.statusCode, custom.body).toBe(200);
    expect(custom.json<DeliverySeries>()).toMatchObject({ timePeriod: 'CUSTOM', bucketSeconds: 60 });
    expect(custom.json<DeliverySeries>().points).toHaveLength(10);
    const bad = await h.api('GET', `/v1/syncs/${syncId}/metrics/series?period=ONE_YEAR`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ message: string }>().message).toContain('period');
    const both = await h.api('GET', `/v1/syncs/${syncId}/metrics/series?period=ONE_HOUR&start=2026-01-01T00:00:00Z&end=2026-01-01T01:00:00Z`);
    expect(both.statusCode).toBe(400);
    expect((await h.api('GET', `/v1/syncs/${unknownId}/metrics/series`)).statusCode).toBe(404);
  });
});
