import { describe, expect, it } from 'vitest';
import { syncRow } from '../testing/rows.js';
import { MAX_SYNC_SNAPSHOT_BYTES, assertSnapshotFits, syncSnapshot } from './snapshot.js';

describe('syncSnapshot', () => {
  it('carries the sealed header and what filter and delivery need', () => {
    expect(syncSnapshot(syncRow({ enabled: true, version: 3 }))).toEqual({
      kind: 'sync',
      id: '22222222-2222-4222-8222-222222222222',
      projectId: '11111111-1111-4111-8111-111111111111',
      name: 'Movable Ink – prod',
      enabled: true,
      endpointUrl: 'https://collector.movableink-dmz.com/behavioral/abc123',
      authorizationSealed: 'v1.iv.tag.ciphertext',
      sendEvents: true,
      eventFilters: [{ eventType: 'Order Completed' }],
      eventProperties: ['price'],
      sendUsers: false,
      userProperties: [],
      delivery: syncRow().delivery,
      version: 3,
      deleted: false,
      updatedAt: '2026-01-03T03:04:05.000Z',
    });
  });

  it.each([
    [null, false],
    [new Date(), true],
  ])('deletedAt %j → deleted %s', (deletedAt, deleted) => {
    expect(syncSnapshot(syncRow({ deletedAt })).deleted).toBe(deleted);
  });

  it('refuses a configuration too large to publish', () => {
    const big = syncRow({ eventProperties: Array.from({ length: 600 }, (_, i) => `${i}-${'p'.repeat(1000)}`) });
    expect(() => assertSnapshotFits(syncSnapshot(big))).toThrow(/^body makes the sync's configuration \d+ bytes/);
    expect(() => assertSnapshotFits(syncSnapshot(syncRow()))).not.toThrow();
    expect(MAX_SYNC_SNAPSHOT_BYTES).toBeLessThan(1024 * 1024);
  });
});
