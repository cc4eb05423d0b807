import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProjectSnapshot } from '@inkstream/contracts';
import { captureLogs } from '../testing/logs.js';
import { openTestBucket, type TestBucket } from '../testing/nats.js';
import { createKvPublisher } from './kv-publisher.js';

const snapshot = (id: string, version: number): ProjectSnapshot => ({
  kind: 'project',
  id,
  name: `v${version}`,
  apiKeyHash: 'a'.repeat(64),
  version,
  deleted: false,
  updatedAt: new Date().toISOString(),
});

describe('KV snapshot publisher', () => {
  let bucket: TestBucket;

  beforeAll(async () => {
    bucket = await openTestBucket(captureLogs().logger);
  });
  afterAll(() => bucket?.dispose());

  it('stores a new key, then only newer versions', async () => {
    const publisher = createKvPublisher(bucket.kv);
    const key = 'projects.p1';
    expect(await publisher.publish(key, snapshot('p1', 1))).toBe('published');
    expect(await publisher.publish(key, snapshot('p1', 1))).toBe('stale');
    expect(await publisher.publish(key, snapshot('p1', 3))).toBe('published');
    expect(await publisher.publish(key, snapshot('p1', 2))).toBe('stale');
    expect(await bucket.read(key)).toMatchObject({ version: 3, name: 'v3' });
  });

  it('writes over a deleted key', async () => {
    const publisher = createKvPublisher(bucket.kv);
    await publisher.publish('projects.p2', snapshot('p2', 1));
    await bucket.kv.delete('projects.p2');
    expect(await publisher.publish('projects.p2', snapshot('p2', 1))).toBe('published');
    expect(await bucket.read('projects.p2')).toMatchObject({ version: 1 });
  });

  it('keeps the newest version when publishers race', async () => {
    const publishers = [createKvPublisher(bucket.kv), createKvPublisher(bucket.kv), createKvPublisher(bucket.kv)];
    const versions = [4, 9, 1, 7, 10, 2, 8, 3, 6, 5];
    await Promise.all(versions.map((v, i) => publishers[i % publishers.length]!.publish('projects.p3', snapshot('p3', v))));
    expect(await bucket.read('projects.p3')).toMatchObject({ version: 10 });
  });

  it('refuses to publish while NATS is not connected', async () => {
    const publisher = createKvPublisher(bucket.kv, () => false);
    await expect(publisher.publish('projects.p4', snapshot('p4', 1))).rejects.toThrow('NATS is not connected');
    expect(await bucket.read('projects.p4')).toBeUndefined();
  });
});
