import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigView, encodeJson } from '@inkstream/bus';
import { configKey, type SyncSnapshot } from '@inkstream/contracts';
import { syncHistory } from '../db/schema.js';
import { hashApiKey } from '../projects/api-key.js';
import { testDrivers, type OpenedTestDatabase } from '../testing/drivers.js';
import { startApp, syncBody, type AppHarness } from '../testing/harness.js';
import { captureLogs } from '../testing/logs.js';
import { openTestBucket, openTestNats, testNamespace, type TestBucket, type TestNats } from '../testing/nats.js';
import { eq } from 'drizzle-orm';
import { outbox } from '../db/schema.js';
import { createKvPublisher } from './kv-publisher.js';
import { RECONCILE_ACTOR, reconcileConfigBucket } from './reconcile.js';
import { OutboxRelay } from './relay.js';

describe.each(testDrivers)('making the config bucket equal to the database on $name', (driver) => {
  const logs = captureLogs();
  let bucket: TestBucket;
  /** The same namespace, for apps whose reconcile route must work on this bucket. */
  let nats: TestNats;
  let first: OpenedTestDatabase;
  let view: ConfigView;

  beforeAll(async () => {
    const namespace = testNamespace();
    bucket = await openTestBucket(logs.logger, namespace);
    nats = await openTestNats(logs.logger, namespace);
    first = await driver.open(logs.logger);
    // What ingest, filter and delivery see: the same view they build from the bucket.
    view = new ConfigView(logs.logger);
    await view.start(bucket.kv);
  });
  afterAll(async () => {
    view?.stop();
    await nats?.dispose();
    await bucket?.dispose();
    await first?.dispose();
  });

  const drain = (database: OpenedTestDatabase) =>
    new OutboxRelay({ db: database.handle.db, publisher: createKvPublisher(bucket.kv), logger: logs.logger }).drain();
  const keysInBucket = async () => {
    const keys: string[] = [];
    for await (const key of await bucket.kv.keys()) keys.push(key);
    return keys.sort();
  };

  /** Projects and syncs made through the API of an app on `database`, published to the bucket. */
  const populate = async (database: OpenedTestDatabase, names: string[]) => {
    const h = await startApp(database.handle);
    const made: Array<{ project: { id: string; apiKey: string }; sync: { id: string } }> = [];
    for (const name of names) {
      const project = (await h.api('POST', '/v1/projects', { name })).json<{ id: string; apiKey: string }>();
      const sync = (await h.api('POST', `/v1/projects/${project.id}/syncs`, syncBody({ enabled: true }))).json<{ id: string }>();
      made.push({ project, sync });
    }
    await h.close();
    await drain(database);
    return made;
  };

  it('republishes every project and sync when NATS lost the bucket contents', async () => {
    const database = await driver.open(logs.logger);
    try {
      expect(await reconcileConfigBucket(database.handle.db, bucket.kv)).toEqual({ published: 0, superseded: 0, removed: 0, skipped: 0 });
      const [kept] = await populate(database, ['kept']);
      const h = await startApp(database.handle);
      const gone = (await h.api('POST', '/v1/projects', { name: 'gone' })).json<{ id: string }>();
      await h.api('DELETE', `/v1/projects/${gone.id}`);
      await h.close();
      await drain(database);
      for (const key of await keysInBucket()) await bucket.kv.purge(key);
      expect(await keysInBucket()).toEqual([]);

      expect(await reconcileConfigBucket(database.handle.db, bucket.kv)).toMatchObject({ published: 3, removed: 0 });
      await drain(database);
      expect(await bucket.read(configKey.project(kept!.project.id))).toMatchObject({ version: 1, deleted: false });
      expect(await bucket.read(configKey.sync(kept!.sync.id))).toMatchObject({ version: 1, enabled: true });
      expect(await bucket.read(configKey.project(gone.id))).toMatchObject({ version: 2, deleted: true });
      // Equal now: nothing more to do.
      expect(await reconcileConfigBucket(database.handle.db, bucket.kv)).toEqual({ published: 0, superseded: 0, removed: 0, skipped: 0 });
      // Leave the bucket to the next test as a fresh database would find it: full of strangers.
    } finally {
      await database.dispose();
    }
  });

  it('removes what a fresh database does not have, and the running services forget it at once', async () => {
    const made = await populate(first, ['one', 'two', 'three']);
    for (const { project, sync } of made) {
      await expect.poll(() => view.projectForKeyHash(hashApiKey(project.apiKey))?.id, { timeout: 10_000 }).toBe(project.id);
      // The sync is its own key in the bucket: the view may learn it after the project.
      await expect.poll(() => view.activeSyncsOf(project.id).map((s) => s.id), { timeout: 10_000 }).toEqual([sync.id]);
    }

    // The config service starts on a new, empty database; NATS kept everything.
    const fresh = await driver.open(logs.logger);
    try {
      const result = await reconcileConfigBucket(fresh.handle.db, bucket.kv);
      expect(result.removed).toBeGreaterThanOrEqual(6);
      expect(result).toMatchObject({ published: 0, superseded: 0, skipped: 0 });
      expect(await keysInBucket()).toEqual([]);
      // Ingest refuses the old api keys, filter and delivery have no active sync left.
      for (const { project, sync } of made) {
        await expect.poll(() => view.projectForKeyHash(hashApiKey(project.apiKey)), { timeout: 10_000 }).toBeUndefined();
        expect(view.activeSyncsOf(project.id)).toEqual([]);
        expect(view.syncs.get(sync.id)).toMatchObject({ deleted: true });
      }
      expect(view.counts()).toMatchObject({ projects: 0, activeSyncs: 0 });
      // A service that starts now learns nothing of them.
      const late = new ConfigView(logs.logger);
      await late.start(bucket.kv);
      expect(late.counts()).toEqual({ projects: 0, syncs: 0, activeSyncs: 0 });
      late.stop();

      // What the fresh database creates is published as usual.
      const [created] = await populate(fresh, ['new']);
      expect(await keysInBucket()).toEqual([configKey.project(created!.project.id), configKey.sync(created!.sync.id)].sort());
    } finally {
      await fresh.dispose();
    }
  });

  it('gives a restored database the last word when the bucket is ahead of it', async () => {
    const database = await driver.open(logs.logger);
    try {
      const h = await startApp(database.handle, { nats });
      const project = (await h.api('POST', '/v1/projects', { name: 'restored' })).json<{ id: string }>();
      const sync = (await h.api('POST', `/v1/projects/${project.id}/syncs`, syncBody({ enabled: true }))).json<{ id: string }>();
      await drain(database);
      // After the backup was taken, the sync was disabled three times over (versions 2..4).
      const published = (await bucket.read(configKey.sync(sync.id))) as SyncSnapshot;
      await bucket.kv.put(configKey.sync(sync.id), encodeJson({ ...published, enabled: false, version: 4 }));
      await expect.poll(() => view.syncs.get(sync.id)?.version, { timeout: 10_000 }).toBe(4);

      // Through the on-demand route this time.
      const res = await h.api('POST', '/v1/config-bucket/reconcile');
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ superseded: 1, skipped: 0 });
      expect(h.changes()).toBeGreaterThan(2);
      await drain(database);
      expect(await bucket.read(configKey.sync(sync.id))).toMatchObject({ version: 5, enabled: true });
      await expect.poll(() => view.syncs.get(sync.id), { timeout: 10_000 }).toMatchObject({ version: 5, enabled: true });
      expect((await h.api('GET', `/v1/syncs/${sync.id}`)).json()).toMatchObject({ version: 5, enabled: true });
      const history = await database.handle.db.select().from(syncHistory).where(eq(syncHistory.syncId, sync.id));
      expect(history.at(-1)).toMatchObject({ version: 5, type: 'updated', actor: RECONCILE_ACTOR, changes: {} });
      expect(await database.handle.db.select().from(outbox)).toEqual([]);
      await h.close();
    } finally {
      await database.dispose();
    }
  });

  it('leaves a key alone that someone writes while it runs', async () => {
    const database = await driver.open(logs.logger);
    try {
      await bucket.kv.put('projects.stranger', encodeJson({ kind: 'project', id: 'stranger', version: 1, deleted: false }));
      // The key changes between the read and the removal: simulated by a put in the kv's get.
      const racing = Object.create(bucket.kv) as typeof bucket.kv;
      racing.get = async (key: string) => {
        const entry = await bucket.kv.get(key);
        if (key === 'projects.stranger') await bucket.kv.put(key, encodeJson({ kind: 'project', id: 'stranger', version: 2, deleted: false }));
        return entry;
      };
      expect(await reconcileConfigBucket(database.handle.db, racing)).toMatchObject({ skipped: 1 });
      expect(await bucket.read('projects.stranger')).toMatchObject({ version: 2 });
      expect(await reconcileConfigBucket(database.handle.db, bucket.kv)).toMatchObject({ removed: 1, skipped: 0 });
      expect(await keysInBucket()).toEqual([]);
    } finally {
      await database.dispose();
    }
  });
});
