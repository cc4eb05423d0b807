import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryOutcome } from '@inkstream/contracts';
import { deliveryLatency, deliveryMinutes, deliveryPendingRetries, projects, syncs } from '../db/schema.js';
import { deliveryOutcome } from '../testing/delivery-facts.js';
import { testDrivers, type OpenedTestDatabase } from '../testing/drivers.js';
import { captureLogs } from '../testing/logs.js';
import { projectRow, syncRow } from '../testing/rows.js';
import { applyOutcomes } from './apply-batch.js';
import { pruneDeliveryViews } from './prune.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

describe.each(testDrivers)('pruning the delivery views on $name', (driver) => {
  let database: OpenedTestDatabase;
  const now = new Date();

  beforeAll(async () => {
    database = await driver.open(captureLogs().logger);
    await database.handle.db.insert(projects).values(projectRow());
  });
  afterAll(() => database?.dispose());

  const apply = (outcomes: DeliveryOutcome[]) => database.handle.db.transaction((tx) => applyOutcomes(tx, outcomes));
  const minutesOf = async (syncId: string) =>
    (await database.handle.db.select().from(deliveryMinutes).where(eq(deliveryMinutes.syncId, syncId))).map((m) => m.minute.getTime());
  const pendingOf = async (syncId: string) =>
    (await database.handle.db.select().from(deliveryPendingRetries).where(eq(deliveryPendingRetries.syncId, syncId))).map((p) => p.messageId).sort();

  it('drops minutes older than 90 days, with their latencies', async () => {
    const sync = randomUUID();
    const old = now.getTime() - 91 * DAY;
    const kept = now.getTime() - 89 * DAY;
    await apply([deliveryOutcome(sync, { messageId: 'old', at: old }), deliveryOutcome(sync, { messageId: 'kept', at: kept })]);
    await pruneDeliveryViews(database.handle.db, now);
    expect(await minutesOf(sync)).toEqual([Math.floor(kept / 60_000) * 60_000]);
    const latency = await database.handle.db.select().from(deliveryLatency).where(eq(deliveryLatency.syncId, sync));
    expect(latency.map((l) => l.minute.getTime())).toEqual([Math.floor(kept / 60_000) * 60_000]);
  });

  it("forgets pending retries an hour past their sync's retry window, and settles the sync", async () => {
    const sync = randomUUID();
    await database.handle.db.insert(syncs).values(
      syncRow({ id: sync, enabled: true, delivery: { ...syncRow().delivery, retryWindowSeconds: 600 }, statusState: 'healthy' }),
    );
    const t = now.getTime();
    await apply([
      deliveryOutcome(sync, { messageId: 'stale', result: 'retry', status: 503, at: t - 2 * HOUR }),
      deliveryOutcome(sync, { messageId: 'fresh', result: 'retry', status: 503, at: t - 30 * 60_000 }),
    ]);
    expect((await database.handle.db.select().from(syncs).where(eq(syncs.id, sync)))[0]?.statusState).toBe('retrying');
    await pruneDeliveryViews(database.handle.db, now);
    expect(await pendingOf(sync)).toEqual(['fresh']);

    await apply([deliveryOutcome(sync, { messageId: 'fresh', result: 'retry', status: 503, attempt: 2, at: t - 20 * 60_000 })]);
    await pruneDeliveryViews(database.handle.db, new Date(t + 2 * HOUR));
    expect(await pendingOf(sync)).toEqual([]);
    const [row] = await database.handle.db.select().from(syncs).where(eq(syncs.id, sync));
    expect({ state: row?.statusState, lastError: row?.statusLastError }).toEqual({ state: 'healthy', lastError: 'HTTP 503' });
  });

  it('gives a sync it does not know the longest retry window', async () => {
    const sync = randomUUID();
    const t = now.getTime();
    await apply([
      deliveryOutcome(sync, { messageId: 'two-days', result: 'failing', status: 401, at: t - 2 * DAY }),
      deliveryOutcome(sync, { messageId: 'four-days', result: 'failing', status: 401, at: t - 4 * DAY }),
    ]);
    await pruneDeliveryViews(database.handle.db, now);
    expect(await pendingOf(sync)).toEqual(['two-days']);
  });
});
