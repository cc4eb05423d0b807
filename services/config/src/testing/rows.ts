import { DEFAULT_DELIVERY_SETTINGS } from '@inkstream/contracts';
import type { ProjectRow, SyncRow } from '../db/schema.js';

const created = new Date('2026-01-02T03:04:05.000Z');
const updated = new Date('2026-01-03T03:04:05.000Z');

export function projectRow(overrides: Partial<ProjectRow> = {}): ProjectRow {
  return {
    id: '11111111-1111-4111-8111-111111111111',
    name: 'Shop',
    apiKeyHash: 'a'.repeat(64),
    apiKeySealed: 'v1.sealed',
    version: 1,
    createdAt: created,
    updatedAt: updated,
    deletedAt: null,
    ...overrides,
  };
}

export function syncRow(overrides: Partial<SyncRow> = {}): SyncRow {
  return {
    id: '22222222-2222-4222-8222-222222222222',
    projectId: '11111111-1111-4111-8111-111111111111',
    name: 'Movable Ink – prod',
    destination: 'movable-ink',
    enabled: false,
    endpointUrl: 'https://collector.movableink-dmz.com/behavioral/abc123',
    authorizationSealed: 'v1.iv.tag.ciphertext',
    authorizationHint: 'Basic ****Q6dA==',
    sendEvents: true,
    eventFilters: [{ eventType: 'Order Completed' }],
    eventProperties: ['price'],
    sendUsers: false,
    userProperties: [],
    delivery: { ...DEFAULT_DELIVERY_SETTINGS },
    statusState: 'healthy',
    statusLastError: null,
    statusAt: null,
    version: 1,
    createdAt: created,
    updatedAt: updated,
    deletedAt: null,
    ...overrides,
  };
}
