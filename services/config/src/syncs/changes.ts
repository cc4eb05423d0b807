import type { DeliverySettings, EventFilter } from '@inkstream/contracts';
import type { SyncChanges, SyncHistoryType, SyncRow } from '../db/schema.js';

/** The fields of a sync an admin changes, as history shows them (authorization masked). */
export interface SyncSettings {
  name: string;
  enabled: boolean;
  endpointUrl: string;
  authorization: string;
  sendEvents: boolean;
  eventFilters: EventFilter[];
  eventProperties: string[];
  sendUsers: boolean;
  userProperties: string[];
  delivery: DeliverySettings;
}

const FIELDS: ReadonlyArray<keyof SyncSettings> = [
  'name',
  'enabled',
  'endpointUrl',
  'authorization',
  'sendEvents',
  'eventFilters',
  'eventProperties',
  'sendUsers',
  'userProperties',
  'delivery',
];

export function settingsOf(row: SyncRow): SyncSettings {
  return {
    name: row.name,
    enabled: row.enabled,
    endpointUrl: row.endpointUrl,
    authorization: row.authorizationHint,
    sendEvents: row.sendEvents,
    eventFilters: row.eventFilters,
    eventProperties: row.eventProperties,
    sendUsers: row.sendUsers,
    userProperties: row.userProperties,
    delivery: row.delivery,
  };
}

/**
 * The fields whose value differs, each `{from, to}`; every field for a new sync (`from: null`).
 * The masks of two different secrets can look alike, so whether the authorization changed
 * is decided by the caller, who compared the secrets themselves.
 */
export function diffSettings(
  before: SyncSettings | undefined,
  after: SyncSettings,
  authorizationChanged = false,
): SyncChanges {
  const changes: SyncChanges = {};
  for (const field of FIELDS) {
    if (before === undefined) {
      changes[field] = { from: null, to: after[field] };
      continue;
    }
    const differs = field === 'authorization' ? authorizationChanged : !sameValue(before[field], after[field]);
    if (differs) changes[field] = { from: before[field], to: after[field] };
  }
  return changes;
}

/** How a change is named in the history: toggling `enabled` wins over other edits. */
export function historyTypeOf(changes: SyncChanges): Exclude<SyncHistoryType, 'created' | 'deleted'> {
  const enabled = changes.enabled;
  if (enabled) return enabled.to === true ? 'enabled' : 'disabled';
  return 'updated';
}

/** Deep equality of JSON values; object key order does not matter (jsonb reorders keys). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keysA = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const keysB = Object.keys(rb).filter((k) => rb[k] !== undefined);
  return keysA.length === keysB.length && keysA.every((k) => sameValue(ra[k], rb[k]));
}
