import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutcomeAggregator, type DeliveryOutcome, type OutcomeMessage } from '@inkstream/contracts';
import type { Database } from '../db/database.js';
import { deliveryErrors, deliveryLatency, deliveryMinutes, deliveryPendingRetries, projects, syncs } from '../db/schema.js';
import { deliveryOutcome } from '../testing/delivery-facts.js';
import { testDrivers, type OpenedTestDatabase } from '../testing/drivers.js';
import { captureLogs } from '../testing/logs.js';
import { projectRow, syncRow } from '../testing/rows.js';
import { applyOutcomes } from './apply-batch.js';
import { MAX_ERRORS_PER_SYNC } from './outcome-batch.js';

const T0 = Math.floor((Date.now() - 3_600_000) / 60_000) * 60_000;

/** What the projection stores for a sync, without its id. */
async function viewsOf(db: Database, syncId: string) {
  const minutes = await db.select().from(deliveryMinutes).where(eq(deliveryMinutes.syncId, syncId)).orderBy(deliveryMinutes.minute);
  const latency = await db.select().from(deliveryLatency).where(eq(deliveryLatency.syncId, syncId)).orderBy(deliveryLatency.minute, deliveryLatency.bucket);
  const errors = await db.select().from(deliveryErrors).where(eq(deliveryErrors.syncId, syncId));
  const pending = await db.select().from(deliveryPendingRetries).where(eq(deliveryPendingRetries.syncId, syncId));
  return {
    minutes: minutes.map(({ syncId: _s, ...m }) => m),
    latency: latency.map(({ syncId: _s, ...l }) => l),
    errors: errors.map((e) => [e.messageId, e.result, e.status, e.attempt]).sort(),
    pending: pending.map((p) => [p.messageId, p.result, p.attempt]).sort(),
  };
}

/**
 * Traffic of a sync, in time order: most payloads delivered on the first attempt, every fifth
 * failing once (503) and delivered on attempt 2, every seventh throttled and delivered after
 * it (attempt 1 again), every eleventh rejected, and a few still waiting for a retry.
 */
function traffic(syncId: string, n: number): DeliveryOutcome[] {
  const out: DeliveryOutcome[] = [];
  for (let i = 0; i < n; i++) {
    const at = T0 + i * 50;
    const o = (overrides: Partial<DeliveryOutcome>) => deliveryOutcome(syncId, { messageId: `m${i}`, at, receivedAt: at - (i % 300), ...overrides });
    if (i % 11 === 0) out.push(o({ result: 'rejected', status: 400, error: 'HTTP 400', responseBody: 'bad' }));
    else if (i % 5 === 0) {
      out.push(o({ result: 'retry', status: 503, error: 'HTTP 503' }));
      if (i < n - 20) out.push(o({ attempt: 2, at: at + 20 }));
    } else if (i % 7 === 0) {
      out.push(o({ result: 'throttled', status: 429, error: 'HTTP 429' }));
      out.push(o({ at: at + 10 }));
    } else out.push(o({}));
  }
  return out.sort((a, b) => a.at - b.at);
}

/** The same outcomes as a new publisher sends them: v2 aggregates of `every` outcomes each. */
function aggregated(outcomes: readonly DeliveryOutcome[], every: number): OutcomeMessage[] {
  const aggregator = new OutcomeAggregator();
  const out: OutcomeMessage[] = [];
  outcomes.forEach((o, i) => {
    aggregator.add(o);
    if ((i + 1) % every === 0) out.push(...aggregator.take());
  });
  return [...out, ...aggregator.take()];
}

function inBatches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

describe.each(testDrivers)('applying outcome messages on $name', (driver) => {
  let database: OpenedTestDatabase;
  const apply = (messages: readonly OutcomeMessage[], statusSeen?: Map<string, number>) =>
    database.handle.db.transaction((tx) => applyOutcomes(tx, messages, statusSeen ? { statusSeen } : {}));

  beforeAll(async () => {
    database = await driver.open(captureLogs().logger);
    await database.handle.db.insert(projects).values(projectRow());
  });
  afterAll(() => database?.dispose());

  it('projects v2 aggregates, v1 outcomes and a mix of both into the same views', async () => {
    const [v1, v2, mixed] = [randomUUID(), randomUUID(), randomUUID()];
    for (const batch of inBatches(traffic(v1, 400), 97)) await apply(batch);
    for (const batch of inBatches(aggregated(traffic(v2, 400), 37), 5)) await apply(batch);
    // An upgrade half-way: what an older version left in the stream, then aggregates.
    const all = traffic(mixed, 400);
    const half = all.findIndex((o) => o.messageId === 'm201');
    await apply(all.slice(0, half));
    for (const batch of inBatches(aggregated(all.slice(half), 50), 3)) await apply(batch);

    const expected = await viewsOf(database.handle.db, v1);
    expect(expected.minutes.reduce((n, m) => n + m.delivered, 0)).toBe(400 - 37 - 3);
    expect(expected.pending).toHaveLength(3);
    expect(await viewsOf(database.handle.db, v2)).toEqual(expected);
    expect(await viewsOf(database.handle.db, mixed)).toEqual(expected);
  });

  it('applies thousands of outcomes of many syncs in one transaction', async () => {
    const ids = Array.from({ length: 40 }, () => randomUUID());
    const big: OutcomeMessage[] = [];
    for (const id of ids) big.push(...traffic(id, 150));
    // One sync with more failures than it keeps samples of.
    const noisy = ids[0]!;
    for (let i = 0; i < MAX_ERRORS_PER_SYNC + 300; i++) {
      big.push(deliveryOutcome(noisy, { messageId: `x${i}`, result: 'retry', status: 500, error: 'HTTP 500', at: T0 + 600_000 + i }));
    }
    for (const id of ids) big.push(...aggregated(traffic(id, 150).map((o) => ({ ...o, messageId: `again-${o.messageId}` })), 1_000));
    expect(big.length).toBeGreaterThan(8_000);
    await apply(big);

    const quiet = await viewsOf(database.handle.db, ids[1]!);
    expect(quiet.minutes.reduce((n, m) => n + m.delivered, 0)).toBe(2 * (150 - 14 - 4));
    const [errors] = await database.handle.db.select({ n: sql<number>`count(*)::int` }).from(deliveryErrors).where(eq(deliveryErrors.syncId, noisy));
    expect(errors!.n).toBe(MAX_ERRORS_PER_SYNC);
    const [pending] = await database.handle.db
      .select({ n: sql<number>`count(*)::int` })
      .from(deliveryPendingRetries)
      .where(eq(deliveryPendingRetries.syncId, noisy));
    expect(pending!.n).toBe(MAX_ERRORS_PER_SYNC + 300 + 8);
  });

  it('writes the sync status only when it changes, never from an older outcome', async () => {
    const id = randomUUID();
    await database.handle.db.insert(syncs).values(syncRow({ id, enabled: true, name: `s-${id}` }));
    const row = async () => {
      const [r] = await database.handle.db
        .select({ state: syncs.statusState, lastError: syncs.statusLastError, at: syncs.statusAt, version: sql<string>`xmin::text` })
        .from(syncs)
        .where(eq(syncs.id, id));
      return r!;
    };
    const seen = new Map<string, number>();
    const untouched = await row();

    // Healthy already: deliveries, as aggregates or outcomes, write nothing.
    await apply(aggregated([deliveryOutcome(id, { at: T0 + 1_000 }), deliveryOutcome(id, { messageId: 'm2', at: T0 + 2_000 })], 10), seen);
    await apply([deliveryOutcome(id, { messageId: 'm3', at: T0 + 3_000 })], seen);
    expect(await row()).toEqual(untouched);

    await apply(aggregated([deliveryOutcome(id, { messageId: 'f', result: 'retry', status: 503, error: 'HTTP 503', at: T0 + 4_000 })], 10), seen);
    const retrying = await row();
    expect(retrying).toMatchObject({ state: 'retrying', lastError: 'HTTP 503', at: new Date(T0 + 4_000) });

    // The same again: not written.
    await apply([deliveryOutcome(id, { messageId: 'g', result: 'retry', status: 503, error: 'HTTP 503', at: T0 + 5_000 })], seen);
    expect(await row()).toEqual(retrying);

    // Older than what was seen (5 s): ignored, though newer than the stored status_at (4 s).
    await apply([deliveryOutcome(id, { messageId: 'h', result: 'failing', status: 401, error: 'HTTP 401', at: T0 + 4_500 })], seen);
    expect(await row()).toEqual(retrying);

    // Delivered (f and g settled): healthy again.
    await apply(aggregated([deliveryOutcome(id, { messageId: 'f', attempt: 2, at: T0 + 6_000 }), deliveryOutcome(id, { messageId: 'g', attempt: 2, at: T0 + 6_001 })], 10), seen);
    expect(await row()).toMatchObject({ state: 'healthy', lastError: null, at: new Date(T0 + 6_001) });
    expect((await viewsOf(database.handle.db, id)).pending).toEqual([['h', 'failing', 1]]);
  });

  it('settles a retrying sync once its last pending retry ends, keeping the last error', async () => {
    const id = randomUUID();
    await database.handle.db.insert(syncs).values(syncRow({ id, enabled: true, name: `s-${id}` }));
    await apply([deliveryOutcome(id, { messageId: 'a', result: 'retry', status: 500, error: 'HTTP 500', at: T0 + 1_000 })]);
    await apply(aggregated([deliveryOutcome(id, { messageId: 'a', result: 'expired', status: undefined, attempt: 5, reason: 'expired', at: T0 + 2_000 })], 10));
    const [r] = await database.handle.db.select().from(syncs).where(eq(syncs.id, id));
    expect([r!.statusState, r!.statusLastError]).toEqual(['healthy', 'HTTP 500']);
  });
});
