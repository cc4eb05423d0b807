import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OutcomeAggregator, type DeliveryOutcome, type OutcomeMessage } from '@inkstream/contracts';
import type { Database, DatabaseHandle } from '../db/database.js';
import { openPostgres } from '../db/postgres.js';
import { deliveryErrors, deliveryLatency, deliveryMinutes, deliveryPendingRetries, outcomeCheckpoints } from '../db/schema.js';
import { deliveryOutcome, publishOutcomes } from '../testing/delivery-facts.js';
import { captureLogs, type CapturedLogs } from '../testing/logs.js';
import { openTestNats, type TestNats } from '../testing/nats.js';
import { createTestDatabase, type TestDatabase } from '../testing/postgres.js';
import { startTcpProxy, type TcpProxy } from '@inkstream/testing';
import { OutcomeProjector } from './outcome-projector.js';
import { LeasedOutcomeProjection } from './projection-lease.js';

/** Everything the projection stores for a sync, to compare before and after. */
async function viewsOf(db: Database, syncId: string) {
  const [minutes] = await db
    .select({
      delivered: sql<number>`coalesce(sum(${deliveryMinutes.delivered}), 0)::int`,
      firstAttempt: sql<number>`coalesce(sum(${deliveryMinutes.deliveredFirstAttempt}), 0)::int`,
      afterRetry: sql<number>`coalesce(sum(${deliveryMinutes.deliveredAfterRetry}), 0)::int`,
      retried: sql<number>`coalesce(sum(${deliveryMinutes.retried}), 0)::int`,
      expired: sql<number>`coalesce(sum(${deliveryMinutes.expired}), 0)::int`,
      attempts: sql<number>`coalesce(sum(${deliveryMinutes.attempts2xx} + ${deliveryMinutes.attempts5xx}), 0)::int`,
    })
    .from(deliveryMinutes)
    .where(eq(deliveryMinutes.syncId, syncId));
  const [latency] = await db
    .select({ n: sql<number>`coalesce(sum(${deliveryLatency.count}), 0)::int` })
    .from(deliveryLatency)
    .where(eq(deliveryLatency.syncId, syncId));
  const errors = await db.select().from(deliveryErrors).where(eq(deliveryErrors.syncId, syncId));
  const pending = await db.select().from(deliveryPendingRetries).where(eq(deliveryPendingRetries.syncId, syncId));
  return { ...minutes, latency: latency?.n, errors: errors.length, pending: pending.length };
}

/** n outcomes of a sync: every third fails once and is delivered on its second attempt. */
function traffic(syncId: string, n: number, at = Date.now() - 60_000): DeliveryOutcome[] {
  const out: DeliveryOutcome[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) {
      out.push(deliveryOutcome(syncId, { messageId: `m${i}`, result: 'retry', status: 503, at }));
      out.push(deliveryOutcome(syncId, { messageId: `m${i}`, attempt: 2, at: at + 1 }));
    } else {
      out.push(deliveryOutcome(syncId, { messageId: `m${i}`, at }));
    }
  }
  return out;
}

describe('the outcome projection', () => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let nats: TestNats;
  let logs: CapturedLogs;
  const running: OutcomeProjector[] = [];

  beforeAll(async () => {
    logs = captureLogs();
    database = await createTestDatabase();
    handle = await openPostgres({ url: database.url, logger: logs.logger, poolSize: 4 });
    nats = await openTestNats(logs.logger);
  });
  afterEach(async () => {
    for (const projector of running.splice(0)) await projector.stop();
  });
  afterAll(async () => {
    await nats?.dispose();
    await handle?.close();
    await database?.drop();
  });

  const start = async (db: Database = handle.db) => {
    const projector = new OutcomeProjector({ db, bus: nats.bus, topology: nats.topology, logger: logs.logger, lingerMs: 20, gapCheckMs: 200 });
    running.push(projector);
    await projector.start();
    return projector;
  };
  const stop = async (projector: OutcomeProjector) => {
    running.splice(running.indexOf(projector), 1);
    await projector.stop();
  };
  const checkpoint = async () => {
    const consumer = nats.topology.consumers.outcomes().durable_name;
    const [row] = await handle.db.select().from(outcomeCheckpoints).where(eq(outcomeCheckpoints.consumer, consumer));
    return row?.lastSeq ?? 0;
  };
  const caughtUp = async (seq: number) => {
    await expect.poll(checkpoint, { timeout: 90_000, interval: 100 }).toBeGreaterThanOrEqual(seq);
    // …and every message answered, so nothing comes back later.
    await expect
      .poll(async () => {
        const info = await nats.bus.jsm.consumers.info(nats.topology.streams.outcomes.name, nats.topology.consumers.outcomes().durable_name);
        return info.num_pending + info.num_ack_pending;
      }, { timeout: 90_000, interval: 100 })
      .toBe(0);
  };

  it('applies a replay of the same messages only once', async () => {
    const sync = randomUUID();
    const projector = await start();
    const last = await publishOutcomes(nats, traffic(sync, 60));
    await caughtUp(last);
    const applied = await viewsOf(handle.db, sync);
    expect(applied).toEqual({ delivered: 60, firstAttempt: 40, afterRetry: 20, retried: 20, expired: 0, attempts: 80, latency: 60, errors: 20, pending: 0 });

    // The consumer forgets what it delivered: the whole stream comes again.
    await stop(projector);
    await nats.bus.jsm.consumers.delete(nats.topology.streams.outcomes.name, projector.consumer);
    await start();
    await caughtUp(last);
    expect(await viewsOf(handle.db, sync)).toEqual(applied);
    expect(await checkpoint()).toBe(last);
  });

  it('counts each outcome once when two projectors share the consumer', async () => {
    // Not how the service runs (one replica projects at a time, see projection-lease.ts), but
    // what happens while a lease changes hands: alternating messages, applied in order anyway.
    const sync = randomUUID();
    await start();
    await start();
    const last = await publishOutcomes(nats, traffic(sync, 150));
    await caughtUp(last);
    expect(await viewsOf(handle.db, sync)).toMatchObject({ delivered: 150, firstAttempt: 100, afterRetry: 50, retried: 50, latency: 150, pending: 0 });
  });

  it('runs in one replica at a time, and another takes over when it stops', async () => {
    const sync = randomUUID();
    const replica = () =>
      new LeasedOutcomeProjection({ db: handle.db, bus: nats.bus, topology: nats.topology, logger: logs.logger, lingerMs: 20, renewEveryMs: 200 });
    const first = replica();
    const second = replica();
    try {
      await first.start();
      await second.start();
      expect([first.active, second.active]).toEqual([true, false]);
      await caughtUp(await publishOutcomes(nats, traffic(sync, 300)));

      await first.stop();
      await expect.poll(() => second.active, { timeout: 30_000 }).toBe(true);
      await caughtUp(await publishOutcomes(nats, traffic(sync, 30)));
      expect(await viewsOf(handle.db, sync)).toMatchObject({ delivered: 330, afterRetry: 110, pending: 0 });
    } finally {
      await first.stop();
      await second.stop();
    }
  });

  it('projects v1 outcomes an older version left in the stream, then v2 aggregates, in few transactions', async () => {
    const sync = randomUUID();
    await stop(await start()); // the consumer exists: what is published now waits for the next projector
    // Before the upgrade: one message per attempt…
    const old = traffic(sync, 900, Date.now() - 120_000);
    // …after it: the same kind of traffic as aggregates of about 100 outcomes.
    const aggregator = new OutcomeAggregator();
    const aggregates: OutcomeMessage[] = [];
    traffic(sync, 900, Date.now() - 60_000).forEach((o, i) => {
      aggregator.add({ ...o, messageId: `new-${o.messageId}` });
      if (i % 100 === 99) aggregates.push(...aggregator.take());
    });
    aggregates.push(...aggregator.take());
    await publishOutcomes(nats, old);
    const last = await publishOutcomes(nats, aggregates);

    let transactions = 0;
    const counting = Object.create(handle.db) as Database;
    counting.transaction = ((...args: Parameters<Database['transaction']>) => {
      transactions++;
      return handle.db.transaction(...args);
    }) as Database['transaction'];
    const projector = new OutcomeProjector({ db: counting, bus: nats.bus, topology: nats.topology, logger: logs.logger, batchSize: 1_000, lingerMs: 200 });
    running.push(projector);
    await projector.start();
    await caughtUp(last);
    expect(await viewsOf(handle.db, sync)).toEqual({ delivered: 1800, firstAttempt: 1200, afterRetry: 600, retried: 600, expired: 0, attempts: 2400, latency: 1800, errors: 600, pending: 0 });
    // 1,200 outcomes and 12 aggregates: a handful of transactions, not hundreds.
    expect(transactions).toBeLessThanOrEqual(20);
  });

  it('moves past a message it cannot use', async () => {
    const sync = randomUUID();
    await start();
    await nats.bus.js.publish(nats.topology.subjects.outcome(sync), new TextEncoder().encode('{"not": "an outcome"'));
    await nats.bus.js.publish(nats.topology.subjects.outcome(sync), new TextEncoder().encode(JSON.stringify({ v: 1, syncId: 'nope' })));
    const last = await publishOutcomes(nats, [deliveryOutcome(sync)]);
    await caughtUp(last);
    expect((await viewsOf(handle.db, sync)).delivered).toBe(1);
    expect(logs.lines()).toContainEqual(expect.objectContaining({ msg: 'unusable delivery outcome skipped', problem: 'not JSON' }));
    expect(logs.lines()).toContainEqual(expect.objectContaining({ msg: 'unusable delivery outcome skipped', problem: 'syncId is not a uuid' }));
  });

  it('skips outcomes the stream no longer has instead of waiting for them', async () => {
    const sync = randomUUID();
    const projector = await start();
    await caughtUp(await publishOutcomes(nats, [deliveryOutcome(sync, { messageId: 'before' })]));
    await stop(projector);

    const lost = await publishOutcomes(nats, traffic(sync, 3)); // 4 messages, the last is `lost`
    const stream = nats.topology.streams.outcomes.name;
    // Retention took the oldest of them (purge keeps from `seq` on)…
    await nats.bus.jsm.streams.purge(stream, { seq: lost - 1 });
    // …and one in the middle of what followed was deleted.
    const rest = await publishOutcomes(nats, [deliveryOutcome(sync, { messageId: 'x1' }), deliveryOutcome(sync, { messageId: 'x2' })]);
    await nats.bus.jsm.streams.deleteMessage(stream, rest - 1, false);

    await start();
    await caughtUp(rest);
    // `before`, the last two of the purged four (m2, and m0's delivery), and x2.
    expect((await viewsOf(handle.db, sync)).delivered).toBe(4);
    expect(logs.lines()).toContainEqual(expect.objectContaining({ msg: 'delivery outcomes that can no longer arrive skipped' }));
  });

  describe('while Postgres is unreachable', () => {
    let proxy: TcpProxy;
    let viaProxy: DatabaseHandle;

    beforeAll(async () => {
      const url = new URL(database.url);
      proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
      url.hostname = '127.0.0.1';
      url.port = String(proxy.port);
      viaProxy = await openPostgres({ url: url.toString(), logger: logs.logger, poolSize: 2 });
    });
    afterAll(async () => {
      for (const projector of running.splice(0)) await projector.stop();
      await viaProxy?.close();
      await proxy?.close();
    });

    it('holds the outcomes, unacknowledged, and writes them once it is back', async () => {
      const sync = randomUUID();
      await start(viaProxy.db);
      await caughtUp(await publishOutcomes(nats, traffic(sync, 6)));

      proxy.cut();
      const last = await publishOutcomes(nats, traffic(sync, 9, Date.now() - 30_000));
      await expect
        .poll(() => logs.lines().some((line) => line.msg === 'cannot project delivery outcomes yet; retrying'), { timeout: 60_000 })
        .toBe(true);
      expect(await checkpoint()).toBeLessThan(last);

      proxy.restore();
      await caughtUp(last);
      expect(await viewsOf(handle.db, sync)).toMatchObject({ delivered: 15, afterRetry: 5, firstAttempt: 10, pending: 0 });
      expect(logs.lines()).toContainEqual(expect.objectContaining({ msg: 'delivery outcomes are being projected again' }));
    });
  });
});
