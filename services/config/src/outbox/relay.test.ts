import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configKey, type ConfigSnapshot, type SyncSnapshot } from '@inkstream/contracts';
import { createMetricsRegistry } from '@inkstream/service-kit';
import type { Database } from '../db/database.js';
import { outbox } from '../db/schema.js';
import { postgresDriver, testDrivers, type OpenedTestDatabase } from '../testing/drivers.js';
import { startApp, syncBody, type AppHarness } from '../testing/harness.js';
import { captureLogs } from '../testing/logs.js';
import { openTestBucket, type TestBucket } from '../testing/nats.js';
import { createKvPublisher } from './kv-publisher.js';
import { createOutboxMetrics } from './metrics.js';
import type { SnapshotPublisher } from './publisher.js';
import { OutboxRelay } from './relay.js';

const failingPublisher: SnapshotPublisher = {
  publish: async () => {
    throw new Error('NATS is not connected');
  },
};

/** Publishes until the n-th call, then fails: a connection lost in the middle of a pass. */
function publisherFailingAfter(n: number, next: SnapshotPublisher): SnapshotPublisher {
  let calls = 0;
  return {
    publish: async (key, snapshot) => {
      calls += 1;
      if (calls > n) throw new Error('connection lost');
      return next.publish(key, snapshot);
    },
  };
}

async function outboxCount(db: Database): Promise<number> {
  return (await db.select({ id: outbox.id }).from(outbox)).length;
}

describe.each(testDrivers)('outbox relay on $name', (driver) => {
  let database: OpenedTestDatabase;
  let bucket: TestBucket;
  let h: AppHarness;
  let relay: OutboxRelay;
  const logs = captureLogs();

  beforeAll(async () => {
    database = await driver.open(logs.logger);
    bucket = await openTestBucket(logs.logger);
  });
  afterEach(async () => {
    await relay?.stop();
    await h?.close();
  });
  afterAll(async () => {
    await bucket?.dispose();
    await database?.dispose();
  });

  /** The app wired like the service: every committed change nudges the relay. */
  const startWired = async (publisher: SnapshotPublisher = createKvPublisher(bucket.kv)) => {
    const registry = createMetricsRegistry('config');
    relay = new OutboxRelay({
      db: database.handle.db,
      publisher,
      logger: logs.logger,
      metrics: createOutboxMetrics(registry),
      intervalMs: 60_000,
    });
    h = await startApp(database.handle, { onChange: () => relay.nudge() });
    return registry;
  };

  it('publishes each change right after it commits and empties the outbox', async () => {
    const registry = await startWired();
    const project = (await h.api('POST', '/v1/projects', { name: 'Live' })).json<{ id: string; apiKey: string }>();
    const sync = (await h.api('POST', `/v1/projects/${project.id}/syncs`, syncBody({ enabled: true }))).json<{ id: string }>();
    await relay.idle();

    expect(await bucket.read(configKey.project(project.id))).toEqual({
      kind: 'project',
      id: project.id,
      name: 'Live',
      apiKeyHash: createHash('sha256').update(project.apiKey).digest('hex'),
      version: 1,
      deleted: false,
      updatedAt: expect.any(String),
    });
    const syncSnapshot = (await bucket.read(configKey.sync(sync.id))) as SyncSnapshot;
    expect(syncSnapshot).toMatchObject({ kind: 'sync', id: sync.id, projectId: project.id, enabled: true, version: 1, deleted: false });
    expect(h.secretBox.open(syncSnapshot.authorizationSealed)).toBe('Basic dGVzdDp0ZXN0');
    expect(await outboxCount(database.handle.db)).toBe(0);
    expect(await registry.getSingleMetricAsString('inkstream_config_outbox_relayed_total')).toMatch(/result="published"[^}]*} 2$/m);

    await h.api('PATCH', `/v1/syncs/${sync.id}`, { enabled: false });
    await h.api('DELETE', `/v1/syncs/${sync.id}`);
    await h.api('POST', `/v1/projects/${project.id}/rotate-key`);
    await h.api('DELETE', `/v1/projects/${project.id}`);
    await relay.idle();
    expect(await bucket.read(configKey.sync(sync.id))).toMatchObject({ version: 3, enabled: false, deleted: true });
    expect(await bucket.read(configKey.project(project.id))).toMatchObject({ version: 3, deleted: true });
    expect(await outboxCount(database.handle.db)).toBe(0);
  });

  it('keeps changes made while NATS is unreachable and publishes them once it is back', async () => {
    await startWired(failingPublisher);
    const project = (await h.api('POST', '/v1/projects', { name: 'Offline' })).json<{ id: string }>();
    const sync = (await h.api('POST', `/v1/projects/${project.id}/syncs`, syncBody())).json<{ id: string }>();
    await h.api('PATCH', `/v1/syncs/${sync.id}`, { name: 'renamed offline' });
    await relay.idle();
    expect(await bucket.read(configKey.project(project.id))).toBeUndefined();
    expect(await outboxCount(database.handle.db)).toBe(3);
    expect(logs.lines()).toContainEqual(
      expect.objectContaining({ msg: 'cannot publish config snapshots yet; they stay in the outbox' }),
    );
    await relay.stop();

    // What a restarted service (or NATS coming back) does: a relay that can publish starts.
    const recovered = new OutboxRelay({ db: database.handle.db, publisher: createKvPublisher(bucket.kv), logger: logs.logger });
    relay = recovered;
    recovered.start();
    await recovered.idle();
    expect(await bucket.read(configKey.project(project.id))).toMatchObject({ version: 1 });
    expect(await bucket.read(configKey.sync(sync.id))).toMatchObject({ version: 2, name: 'renamed offline' });
    expect(await outboxCount(database.handle.db)).toBe(0);
  });

  it('removes what it published before a failure and keeps the rest, in order', async () => {
    await startWired(failingPublisher);
    const ids: string[] = [];
    for (const name of ['a', 'b', 'c', 'd']) ids.push((await h.api('POST', '/v1/projects', { name })).json<{ id: string }>().id);
    await relay.stop();

    const partial = new OutboxRelay({
      db: database.handle.db,
      publisher: publisherFailingAfter(2, createKvPublisher(bucket.kv)),
      logger: logs.logger,
    });
    await expect(partial.drain()).rejects.toThrow('connection lost');
    expect(await bucket.read(configKey.project(ids[0]!))).toBeDefined();
    expect(await bucket.read(configKey.project(ids[1]!))).toBeDefined();
    expect(await bucket.read(configKey.project(ids[2]!))).toBeUndefined();
    expect(await outboxCount(database.handle.db)).toBe(2);

    const rest = new OutboxRelay({ db: database.handle.db, publisher: createKvPublisher(bucket.kv), logger: logs.logger });
    expect(await rest.drain()).toEqual({ published: 2, stale: 0 });
    expect(await bucket.read(configKey.project(ids[3]!))).toBeDefined();
  });

  it('finds rows nobody nudged it about on its timer', async () => {
    await startWired(failingPublisher);
    const project = (await h.api('POST', '/v1/projects', { name: 'Timer' })).json<{ id: string }>();
    await relay.stop();
    const timed = new OutboxRelay({ db: database.handle.db, publisher: createKvPublisher(bucket.kv), logger: logs.logger, intervalMs: 50 });
    relay = timed;
    timed.start();
    await expect.poll(() => bucket.read(configKey.project(project.id)), { timeout: 30_000 }).toMatchObject({ version: 1 });
  });

  it('does nothing once stopped', async () => {
    let published = 0;
    await startWired({ publish: async () => ((published += 1), 'published') });
    await relay.stop();
    await h.api('POST', '/v1/projects', { name: 'After stop' });
    await relay.idle();
    expect(published).toBe(0);
    // Left for the next test's relay to publish.
    const drained = new OutboxRelay({ db: database.handle.db, publisher: createKvPublisher(bucket.kv), logger: logs.logger });
    await drained.drain();
  });

  it('publishes in batches until the outbox is empty', async () => {
    await startWired(failingPublisher);
    for (let i = 0; i < 7; i++) await h.api('POST', '/v1/projects', { name: `batch ${i}` });
    await relay.stop();
    const seen: ConfigSnapshot[] = [];
    const small = new OutboxRelay({
      db: database.handle.db,
      publisher: { publish: async (_key, snapshot) => (seen.push(snapshot), 'published') },
      logger: logs.logger,
      batchSize: 3,
    });
    expect(await small.drain()).toEqual({ published: 7, stale: 0 });
    expect(seen.map((s) => s.name)).toEqual(Array.from({ length: 7 }, (_, i) => `batch ${i}`));
    expect(await outboxCount(database.handle.db)).toBe(0);
  });
});

describe('two relays on one Postgres', () => {
  let database: OpenedTestDatabase;
  const logs = captureLogs();

  beforeAll(async () => {
    database = await postgresDriver.open(logs.logger);
  });
  afterAll(() => database?.dispose());

  it('share the rows (SKIP LOCKED): each snapshot is published once', async () => {
    const h = await startApp(database.handle);
    for (let i = 0; i < 40; i++) expect((await h.api('POST', '/v1/projects', { name: `p${i}` })).statusCode).toBe(201);
    await h.close();

    const published: string[] = [];
    const slowPublisher: SnapshotPublisher = {
      publish: async (key, snapshot) => {
        published.push(`${key}@${snapshot.version}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
        return 'published';
      },
    };
    const relays = [0, 1].map(
      () => new OutboxRelay({ db: database.handle.db, publisher: slowPublisher, logger: logs.logger, batchSize: 5 }),
    );
    const results = await Promise.all(relays.map((r) => r.drain()));
    expect(results.reduce((sum, r) => sum + r.published, 0)).toBe(40);
    expect(new Set(published).size).toBe(40);
    expect(published).toHaveLength(40);
    expect(await outboxCount(database.handle.db)).toBe(0);
  });
});
