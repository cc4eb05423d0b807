import { describe, expect, it } from 'vitest';
import { FormatRegistry } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { syncRow } from '../testing/rows.js';
import { SyncSchema, toSync } from './resource.js';

// TypeBox's own checker knows no formats; fastify's ajv checks them in the routes.
FormatRegistry.Set('uuid', (value) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value));
FormatRegistry.Set('date-time', (value) => !Number.isNaN(Date.parse(value)));

describe('toSync', () => {
  it('shows the stored mask, never the sealed header', () => {
    const sync = toSync(syncRow());
    expect(sync.authorization).toBe('Basic ****Q6dA==');
    expect(JSON.stringify(sync)).not.toContain('v1.iv.tag.ciphertext');
  });

  it.each([
    [{ enabled: false, statusState: 'healthy' as const }, { state: 'disabled', lastError: null }],
    [{ enabled: false, statusState: 'failing' as const, statusLastError: '401' }, { state: 'disabled', lastError: '401' }],
    [{ enabled: true, statusState: 'healthy' as const }, { state: 'healthy', lastError: null }],
    [{ enabled: true, statusState: 'retrying' as const, statusLastError: '503 from endpoint' }, { state: 'retrying', lastError: '503 from endpoint' }],
    [{ enabled: true, statusState: 'failing' as const, statusLastError: '401' }, { state: 'failing', lastError: '401' }],
  ])('status of %j', (row, status) => {
    expect(toSync(syncRow(row)).status).toEqual(status);
  });

  it('matches its response schema', () => {
    const sync = toSync(syncRow({ enabled: true, version: 4 }));
    expect(Value.Check(SyncSchema, sync)).toBe(true);
    expect(sync).toMatchObject({
      destination: 'movable-ink',
      version: 4,
      createdAt: '2026-01-02T03:04:05.000Z',
      updatedAt: '2026-01-03T03:04:05.000Z',
    });
  });
});
