import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configKey } from '@inkstream/contracts';
import { outbox } from '../db/schema.js';
import { testDrivers, type OpenedTestDatabase } from '../testing/drivers.js';
import { startApp, syncBody } from '../testing/harness.js';
import { captureLogs } from '../testing/logs.js';
import { openTestBucket, type TestBucket } from '../testing/nats.js';
import { createKvPublisher } from './kv-publisher.js';
import { OutboxRelay } from './relay.js';
import { reseedIfBucketEmpty } from './reseed.js';

describe.each(testDrivers)('re-seeding an empty config bucket on $name', (driver) => {
  let database: OpenedTestDatabase;
  let bucket: TestBucket;
  const logs = captureLogs();

  beforeAll(async () => {
    database = await driver.open(logs.logger);
    bucket = await openTestBucket(logs.logger);
  });
  afterAll(async () => {
    await bucket?.dispose();
    await database?.dispose();
  });

  it('republishes every project and sync when NATS lost the bucket contents', async () => {
    const { db } = database.handle;
    expect(await reseedIfBucketEmpty(db, bucket.kv)).toBe(0);

    const h = await startApp(database.handle);
    const live = (await h.api('POST', '/v1/projects', { name: 'live' })).json<{ id: string }>();
    const gone = (await h.api('POST', '/v1/projects', { name: 'gone' })).json<{ id: string }>();
    const sync = (await h.api('POST', `/v1/projects/${live.id}/syncs`, syncBody({ enabled: true }))).json<{ id: string }>();
    await h.api('PATCH', `/v1/syncs/${sync.id}`, { name: 'v2' });
    await h.api('DELETE', `/v1/projects/${gone.id}`);
    await h.close();
    // Those changes were published long ago; then NATS lost its data.
    await db.delete(outbox);

    expect(await reseedIfBucketEmpty(db, bucket.kv)).toBe(3);
    const relay = new OutboxRelay({ db, publisher: createKvPublisher(bucket.kv), logger: logs.logger });
    await relay.drain();
    expect(await bucket.read(configKey.project(live.id))).toMatchObject({ version: 1, deleted: false });
    expect(await bucket.read(configKey.project(gone.id))).toMatchObject({ version: 2, deleted: true });
    expect(await bucket.read(configKey.sync(sync.id))).toMatchObject({ version: 2, name: 'v2', enabled: true });

    // The bucket has data now: nothing more to do.
    expect(await reseedIfBucketEmpty(db, bucket.kv)).toBe(0);
  });
});
