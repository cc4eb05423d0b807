import { describe, expect, it } from 'vitest';
import type { ProjectSnapshot, SyncSnapshot } from '@inkstream/contracts';
import { planReconciliation, type BucketEntry, type DatabaseSnapshot } from './reconcile-plan.js';

const project = (id: string, version: number, deleted = false): ProjectSnapshot => ({
  kind: 'project',
  id,
  name: id,
  apiKeyHash: 'a'.repeat(64),
  version,
  deleted,
  updatedAt: '2026-01-01T00:00:00.000Z',
});
const sync = (id: string, version: number, deleted = false) => ({ ...project(id, version, deleted), kind: 'sync' }) as unknown as SyncSnapshot;
const inDb = (snapshot: ProjectSnapshot | SyncSnapshot): DatabaseSnapshot => ({ key: `${snapshot.kind}s.${snapshot.id}`, snapshot });
const inBucket = (snapshot: ProjectSnapshot | SyncSnapshot | undefined, key = `${snapshot!.kind}s.${snapshot!.id}`, revision = 7): BucketEntry => ({
  key,
  revision,
  snapshot,
});

describe('planning a reconciliation of the config bucket with the database', () => {
  it.each([
    ['both empty', [], [], []],
    ['the same versions', [inDb(project('p', 2)), inDb(sync('s', 3))], [inBucket(project('p', 2)), inBucket(sync('s', 3))], []],
    ['an empty bucket (NATS lost its data)', [inDb(project('p', 1)), inDb(sync('s', 4, true))], [], ['publish projects.p v1', 'publish syncs.s v4']],
    ['a version the bucket has not seen yet', [inDb(project('p', 3))], [inBucket(project('p', 2))], ['publish projects.p v3']],
    ['an unreadable value', [inDb(project('p', 1))], [inBucket(undefined, 'projects.p')], ['publish projects.p v1']],
    ['a restored backup: the bucket is ahead', [inDb(sync('s', 2))], [inBucket(sync('s', 5))], ['supersede syncs.s v2 as v6']],
    ['a fresh database: live keys are tombstoned and purged', [], [inBucket(project('p', 4)), inBucket(sync('s', 1))], ['remove projects.p@7 tombstone v5', 'remove syncs.s@7 tombstone v2']],
    ['already deleted keys are purged without a tombstone', [], [inBucket(sync('s', 3, true))], ['remove syncs.s@7']],
    ['keys that are no snapshot at all are purged', [], [inBucket(undefined, 'stray.key', 3)], ['remove stray.key@3']],
    [
      'a mix',
      [inDb(project('keep', 1)), inDb(project('newer', 2)), inDb(sync('old', 1))],
      [inBucket(project('keep', 1)), inBucket(project('newer', 1)), inBucket(sync('old', 9)), inBucket(project('gone', 1))],
      ['publish projects.newer v2', 'supersede syncs.old v1 as v10', 'remove projects.gone@7 tombstone v2'],
    ],
  ] as const)('%s', (_label, database, bucket, expected) => {
    const plan = planReconciliation(database, bucket).map((a) =>
      a.kind === 'publish'
        ? `publish ${a.key} v${a.snapshot.version}`
        : a.kind === 'supersede'
          ? `supersede ${a.key} v${a.snapshot.version} as v${a.version}`
          : `remove ${a.key}@${a.revision}${a.tombstone ? ` tombstone v${a.tombstone.version}` : ''}`,
    );
    expect(plan).toEqual(expected);
  });

  it('tombstones keep everything the services know but say deleted', () => {
    const [action] = planReconciliation([], [inBucket(sync('s', 1))]);
    expect(action).toMatchObject({ kind: 'remove', tombstone: { kind: 'sync', id: 's', deleted: true, version: 2, name: 's' } });
  });
});
