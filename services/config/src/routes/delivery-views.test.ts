import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryOutcome } from '@inkstream/contracts';
import { outbox, outcomeCheckpoints, syncHistory } from '../db/schema.js';
import { OutcomeProjector } from '../delivery-views/outcome-projector.js';
import { deliveryOutcome, publishOutcomes } from '../testing/delivery-facts.js';
import { testDrivers, type OpenedTestDatabase } from '../testing/drivers.js';
import { startApp, syncBody, type AppHarness } from '../testing/harness.js';
import { captureLogs } from '../testing/logs.js';
import { openTestNats, type TestNats } from '../testing/nats.js';
import type { DeliveryMetrics } from '../delivery-views/delivery-metrics.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const unknownId = '00000000-0000-4000-8000-000000000000';

type Metrics = DeliveryMetrics;

describe.each(testDrivers)('delivery views on $name', (driver) => {
  let database: OpenedTestDatabase;
  let nats: TestNats;
  let h: AppHarness;
  let projector: OutcomeProjector;
  let projectId: string;

  beforeAll(async () => {
    const logs = captureLogs();
    database = await driver.open(logs.logger);
    nats = await openTestNats(logs.logger);
    h = await startApp(database.handle, { nats });
    projector = new OutcomeProjector({ db: database.handle.db, bus: nats.bus, topology: nats.topology, logger: logs.logger, lingerMs: 20 });
    await projector.start();
    projectId = (await h.api('POST', '/v1/projects', { name: 'Shop' })).json<{ id: string }>().id;
  });
  afterAll(async () => {
    await projector?.stop();
    await h?.close();
    await nats?.dispose();
    await database?.dispose();
  });

  const newSync = async (overrides: Record<string, unknown> = {}) => {
    const res = await h.api('POST', `/v1/projects/${projectId}/syncs`, syncBody({ enabled: true, ...overrides }));
    expect(res.statusCode, res.body).toBe(201);
    return res.json<{ id: string; version: number }>().id;
  };
  /** Publishes outcomes and waits until the projection has applied them. */
  const project = async (outcomes: DeliveryOutcome[]) => {
    const seq = await publishOutcomes(nats, outcomes);
    await expect
      .poll(
        async () => {
          const [row] = await database.handle.db.select().from(outcomeCheckpoints).where(eq(outcomeCheckpoints.consumer, projector.consumer));
          return row?.lastSeq ?? 0;
        },
        { timeout: 60_000, interval: 50 },
      )
      .toBeGreaterThanOrEqual(seq);
  };
  const metrics = async (syncId: string, query = '') => {
    const res = await h.api('GET', `/v1/syncs/${syncId}/metrics${query}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json<Metrics>();
  };
  const status = async (syncId: string) => (await h.api('GET', `/v1/syncs/${syncId}`)).json<{ status: unknown }>().status;

  describe('metrics', () => {
    it('counts what happened within each period, and a custom range', async () => {
      const sync = await newSync();
      const now = Date.now();
      const ago = [5 * MINUTE, 30 * MINUTE, 3 * HOUR, 12 * HOUR, 3 * DAY, 10 * DAY, 20 * DAY];
      await project(ago.map((age, i) => deliveryOutcome(sync, { messageId: `m${i}`, at: now - age, receivedAt: now - age - 2_000 })));

      for (const [period, delivered, minutes] of [
        ['TEN_MINUTES', 1, 10],
        ['ONE_HOUR', 2, 60],
        ['FOUR_HOURS', 3, 240],
        ['ONE_DAY', 4, 1440],
        ['ONE_WEEK', 5, 7 * 1440],
        ['TWO_WEEKS', 6, 14 * 1440],
      ] as const) {
        const m = await metrics(sync, `?period=${period}`);
        expect(m, period).toMatchObject({ timePeriod: period, eventsDelivered: delivered, successOnFirstAttempt: delivered, deliveryRate: 1 });
        const start = Date.parse(m.timePeriodStart);
        const end = Date.parse(m.timePeriodEnd);
        expect(end - start, period).toBe(minutes * MINUTE);
        expect(end % MINUTE).toBe(0);
        expect(end).toBeGreaterThanOrEqual(now);
      }
      expect(await metrics(sync)).toMatchObject({ timePeriod: 'ONE_DAY', eventsDelivered: 4 });

      const start = new Date(now - 21 * DAY).toISOString();
      const end = new Date(now - 19 * DAY).toISOString();
      const custom = await metrics(sync, `?start=${encodeURIComponent(start)}&end=${encodeURIComponent(end)}`);
      expect(custom).toMatchObject({ timePeriod: 'CUSTOM', eventsDelivered: 1, latencyInSeconds: 2 });
      expect(Date.parse(custom.timePeriodStart)).toBeLessThanOrEqual(Date.parse(start));
      expect(Date.parse(custom.timePeriodEnd)).toBeGreaterThanOrEqual(Date.parse(end));
    });

    it('tells deliveries on the first attempt from those after a retry, and counts what was not delivered', async () => {
      const sync = await newSync();
      const at = Date.now() - MINUTE;
      await project([
        deliveryOutcome(sync, { messageId: 'first', at }),
        deliveryOutcome(sync, { messageId: 'retried', result: 'retry', status: 503, error: 'HTTP 503', at }),
        deliveryOutcome(sync, { messageId: 'throttled', result: 'throttled', status: 429, at }),
        deliveryOutcome(sync, { messageId: 'expired', result: 'retry', status: 500, at }),
        deliveryOutcome(sync, { messageId: 'discarded', result: 'discarded', status: undefined, attempt: 0, reason: 'older than 30 days', at }),
        deliveryOutcome(sync, { messageId: 'rejected', result: 'rejected', status: 400, at }),
      ]);
      // Later batches: the retried payloads arrive, one expires, one is dropped with its sync.
      await project([
        deliveryOutcome(sync, { messageId: 'retried', attempt: 2, at: at + 1 }),
        deliveryOutcome(sync, { messageId: 'throttled', attempt: 1, at: at + 1 }),
        deliveryOutcome(sync, { messageId: 'expired', result: 'expired', status: undefined, attempt: 9, reason: 'expired', at: at + 2 }),
        deliveryOutcome(sync, { messageId: 'dropped', result: 'dropped', status: undefined, attempt: 0, reason: 'sync deleted', at: at + 2 }),
      ]);
      expect(await metrics(sync, '?period=ONE_HOUR')).toMatchObject({
        eventsDelivered: 3,
        successOnFirstAttempt: 1,
        successAfterRetry: 2,
        eventsExpired: 1,
        eventsDiscarded: 1,
        eventsNotDelivered: 4,
        deliveryRate: 0.4286,
        pendingRetries: 0,
      });
    });

    it('reports the p95 of ingest→delivered', async () => {
      const sync = await newSync();
      const at = Date.now() - MINUTE;
      const latencies = [...Array<number>(95).fill(80), ...Array<number>(5).fill(20_000)];
      await project(latencies.map((ms, i) => deliveryOutcome(sync, { messageId: `m${i}`, at, receivedAt: at - ms })));
      // Rank 95 is the last delivery of the (50 ms, 100 ms] bucket.
      expect((await metrics(sync, '?period=ONE_HOUR')).latencyInSeconds).toBe(0.1);

      const other = await newSync();
      await project(
        [...Array<number>(90).fill(30), ...Array<number>(10).fill(4_000)].map((ms, i) =>
          deliveryOutcome(other, { messageId: `m${i}`, at, receivedAt: at - ms }),
        ),
      );
      // Rank 95 is the 5th of 10 in (2.5 s, 5 s]: 2.5 + 2.5 × 5/10.
      expect((await metrics(other, '?period=ONE_HOUR')).latencyInSeconds).toBe(3.75);
    });

    it('answers zeros for a sync nothing happened to', async () => {
      const m = await metrics(await newSync(), '?period=TEN_MINUTES');
      expect(m).toMatchObject({ eventsDelivered: 0, eventsNotDelivered: 0, deliveryRate: 1, latencyInSeconds: 0, pendingRetries: 0 });
    });

    it('counts pending retries up and back down', async () => {
      const sync = await newSync();
      const at = Date.now() - MINUTE;
      await project(['a', 'b', 'c'].map((m) => deliveryOutcome(sync, { messageId: m, result: 'retry', status: 502, at })));
      expect((await metrics(sync)).pendingRetries).toBe(3);
      await project([deliveryOutcome(sync, { messageId: 'a', result: 'failing', status: 401, attempt: 2, at: at + 1 })]);
      expect((await metrics(sync)).pendingRetries).toBe(3);
      await project([
        deliveryOutcome(sync, { messageId: 'a', attempt: 3, at: at + 2 }),
        deliveryOutcome(sync, { messageId: 'b', attempt: 2, at: at + 2 }),
      ]);
      expect((await metrics(sync)).pendingRetries).toBe(1);
      await project([deliveryOutcome(sync, { messageId: 'c', result: 'expired', status: undefined, attempt: 9, at: at + 3 })]);
      expect((await metrics(sync)).pendingRetries).toBe(0);
    });

    it.each([
      ['?period=YESTERDAY', 'querystring/period must be one of "TEN_MINUTES", "ONE_HOUR", "FOUR_HOURS", "ONE_DAY", "ONE_WEEK", "TWO_WEEKS"'],
      ['?start=2026-01-01T00:00:00Z', 'querystring/end must be given with start'],
      ['?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z', 'querystring/end must be after start'],
      ['?start=yesterday&end=2026-01-01T00:00:00Z', 'querystring/start must match format "date-time"'],
      ['?period=ONE_DAY&start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z', 'querystring must give either period or start and end, not both'],
      ['?bucket=1', "querystring must NOT have additional property 'bucket'"],
    ])('refuses %s naming the field', async (query, message) => {
      const res = await h.api('GET', `/v1/syncs/${unknownId}/metrics${query}`);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ statusCode: 400, error: 'Bad Request', message });
    });

    it('404s for an unknown sync, answers for a deleted one', async () => {
      expect((await h.api('GET', `/v1/syncs/${unknownId}/metrics`)).statusCode).toBe(404);
      const sync = await newSync();
      await project([deliveryOutcome(sync, { at: Date.now() - MINUTE })]);
      expect((await h.api('DELETE', `/v1/syncs/${sync}`)).statusCode).toBe(204);
      expect((await metrics(sync)).eventsDelivered).toBe(1);
    });
  });

  describe('errors', () => {
    it('lists failed attempts newest first, as many as asked', async () => {
      const sync = await newSync();
      const at = Date.now() - 10 * MINUTE;
      await project([
        ...[1, 2, 3, 4].map((i) =>
          deliveryOutcome(sync, {
            messageId: `m${i}`,
            result: i === 4 ? 'failing' : 'retry',
            status: i === 4 ? 401 : 503,
            error: i === 4 ? 'HTTP 401' : 'HTTP 503',
            responseBody: `{"n":${i}}`,
            requestId: `req-${i}`,
            traceId: `trace-${i}`,
            attempt: i,
            at: at + i * 1_000,
          }),
        ),
        deliveryOutcome(sync, { messageId: 'ok', at: at + 10_000 }),
        deliveryOutcome(sync, { messageId: 'net', result: 'retry', status: undefined, error: 'ECONNRESET: socket hang up', responseBody: '', at: at + 500, payloadType: 'identify' }),
      ]);
      const res = await h.api('GET', `/v1/syncs/${sync}/errors?limit=3`);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual([
        {
          at: new Date(at + 4_000).toISOString(),
          result: 'failing',
          status: 401,
          error: 'HTTP 401',
          responseBody: '{"n":4}',
          requestId: 'req-4',
          attempt: 4,
          payloadType: 'track',
          messageId: 'm4',
          traceId: 'trace-4',
        },
        expect.objectContaining({ messageId: 'm3', status: 503 }),
        expect.objectContaining({ messageId: 'm2' }),
      ]);
      const all = (await h.api('GET', `/v1/syncs/${sync}/errors`)).json<Array<Record<string, unknown>>>();
      expect(all.map((e) => e.messageId)).toEqual(['m4', 'm3', 'm2', 'm1', 'net']);
      expect(all[4]).toMatchObject({ status: null, error: 'ECONNRESET: socket hang up', requestId: null, traceId: null, payloadType: 'identify' });
    });

    it.each([
      ['?limit=0', 'querystring/limit must be >= 1'],
      ['?limit=1001', 'querystring/limit must be <= 1000'],
      ['?limit=ten', 'querystring/limit must be integer'],
    ])('refuses %s', async (query, message) => {
      const res = await h.api('GET', `/v1/syncs/${unknownId}/errors${query}`);
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toBe(message);
    });

    it('404s for an unknown sync', async () => {
      expect((await h.api('GET', `/v1/syncs/${unknownId}/errors`)).statusCode).toBe(404);
    });
  });

  describe('status', () => {
    it('follows the latest attempts: healthy → retrying → failing → healthy, without changing the configuration', async () => {
      const sync = await newSync();
      const before = await h.api('GET', `/v1/syncs/${sync}`);
      const history = async () => (await database.handle.db.select().from(syncHistory).where(eq(syncHistory.syncId, sync))).length;
      const historyBefore = await history();
      const outboxBefore = (await database.handle.db.select().from(outbox)).length;
      expect(await status(sync)).toEqual({ state: 'healthy', lastError: null });

      const at = Date.now() - 5 * MINUTE;
      await project([deliveryOutcome(sync, { result: 'retry', status: 503, error: 'HTTP 503', responseBody: 'busy', at })]);
      expect(await status(sync)).toEqual({ state: 'retrying', lastError: 'HTTP 503: busy' });

      await project([deliveryOutcome(sync, { result: 'failing', status: 401, error: 'HTTP 401', responseBody: '{"error":"bad credentials"}', attempt: 2, at: at + 1_000 })]);
      expect(await status(sync)).toEqual({ state: 'failing', lastError: 'HTTP 401: {"error":"bad credentials"}' });

      // An outcome older than the one that set the status changes nothing.
      await project([deliveryOutcome(sync, { messageId: 'late', at: at + 500 })]);
      expect((await status(sync) as { state: string }).state).toBe('failing');

      await project([deliveryOutcome(sync, { attempt: 3, at: at + 2_000 })]);
      expect(await status(sync)).toEqual({ state: 'healthy', lastError: null });

      const after = await h.api('GET', `/v1/syncs/${sync}`);
      expect(after.json().version).toBe(before.json().version);
      expect(after.json().updatedAt).toBe(before.json().updatedAt);
      expect(after.headers.etag).toBe(before.headers.etag);
      expect(await history()).toBe(historyBefore);
      expect((await database.handle.db.select().from(outbox)).length).toBe(outboxBefore);
    });

    it('is healthy again once nothing waits for a retry, keeping the last error', async () => {
      const sync = await newSync();
      const at = Date.now() - 5 * MINUTE;
      await project([deliveryOutcome(sync, { result: 'throttled', status: 429, error: 'HTTP 429', at })]);
      expect(await status(sync)).toEqual({ state: 'retrying', lastError: 'HTTP 429' });
      await project([deliveryOutcome(sync, { result: 'expired', status: undefined, attempt: 4, at: at + 1_000 })]);
      expect(await status(sync)).toEqual({ state: 'healthy', lastError: 'HTTP 429' });
    });

    it('says disabled while the sync is not enabled, whatever delivery said last', async () => {
      const sync = await newSync({ enabled: false });
      await project([deliveryOutcome(sync, { result: 'failing', status: 403, at: Date.now() })]);
      expect(await status(sync)).toEqual({ state: 'disabled', lastError: 'HTTP 403' });
      const listed = (await h.api('GET', `/v1/projects/${projectId}/syncs`)).json<Array<{ id: string; status: unknown }>>();
      expect(listed.find((s) => s.id === sync)?.status).toEqual({ state: 'disabled', lastError: 'HTTP 403' });
      await h.api('PATCH', `/v1/syncs/${sync}`, { enabled: true });
      expect(await status(sync)).toEqual({ state: 'failing', lastError: 'HTTP 403' });
    });
  });
});
