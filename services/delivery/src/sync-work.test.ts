import { describe, expect, it } from 'vitest';
import { DEFAULT_DELIVERY_SETTINGS, type ProjectSnapshot, type SyncSnapshot } from '@inkstream/contracts';
import { DRAIN_GRACE_MS, workFor } from './sync-work.js';

const T = Date.parse('2026-12-01T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const project = (deleted: boolean, at = T): ProjectSnapshot => ({ kind: 'project', id: 'p', name: 'p', apiKeyHash: 'h', version: 1, deleted, updatedAt: iso(at) });
const sync = (over: Partial<SyncSnapshot> = {}): SyncSnapshot => ({
  kind: 'sync', id: 's', projectId: 'p', name: 's', enabled: true, endpointUrl: 'https://x', authorizationSealed: 'x',
  sendEvents: true, eventFilters: [], eventProperties: [], sendUsers: false, userProperties: [],
  delivery: DEFAULT_DELIVERY_SETTINGS, version: 1, deleted: false, updatedAt: iso(T), ...over,
});

describe('workFor', () => {
  it.each([
    ['an active sync delivers', sync(), project(false), true, T, 'deliver'],
    ['a disabled sync keeps its queue, however old', sync({ enabled: false }), project(false), false, T + 400 * 86_400_000, 'none'],
    ['a deleted sync drains', sync({ deleted: true }), project(false), false, T + 1_000, 'drain'],
    ['a sync of a deleted project drains', sync({ enabled: false }), project(true), false, T + 1_000, 'drain'],
    ['after the grace period, nothing', sync({ deleted: true }), project(false), false, T + DRAIN_GRACE_MS, 'none'],
    ['a sync whose project is not known never drains', sync({ enabled: false }), undefined, false, T, 'none'],
    ['an unreadable deletion time counts from now', sync({ deleted: true, updatedAt: 'x' }), project(false), false, T, 'drain'],
  ] as const)('%s', (_name, s, p, active, now, expected) => {
    expect(workFor(s, p, active, now)).toBe(expected);
  });
});
