import { USER_PROPERTY_OPERATIONS } from './amplitude-event.js';

/**
 * Amplitude's rules for one event (spec/ingest.md, "Validation (per event)"), shared by ingest and
 * the preview API so a preview refuses exactly what ingest refuses.
 */
export const DEFAULT_MIN_ID_LENGTH = 5;
export const MAX_STRING_LENGTH = 1024;
export const MAX_PROPERTY_DEPTH = 40;

/** Ids Amplitude refuses (compared case-insensitively). */
const REJECTED_IDS = new Set([
  'anonymous',
  'nil',
  'none',
  'null',
  'n/a',
  'na',
  'undefined',
  'unknown',
  '',
  '00000000-0000-0000-0000-000000000000',
  '{}',
  'lmy47d',
  '0',
  '-1',
]);

/**
 * Lengths of the refused ids. Lowercasing keeps a string's length, except for U+0130 (İ), which
 * becomes `i` and a combining dot that no refused id holds: an id of another length is never
 * refused, and is not lowercased (nearly every id).
 */
const REJECTED_ID_LENGTHS: ReadonlySet<number> = new Set([...REJECTED_IDS].map((id) => id.length));

export function isRejectedId(id: string): boolean {
  return REJECTED_ID_LENGTHS.has(id.length) && REJECTED_IDS.has(id.toLowerCase());
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Depth of nested objects/arrays beyond `limit`, stopping early (never deeper than limit + 1). */
export function depthExceeds(value: unknown, limit: number, depth = 1): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (depth > limit) return true;
  for (const child of Array.isArray(value) ? value : Object.values(value)) {
    if (depthExceeds(child, limit, depth + 1)) return true;
  }
  return false;
}

const OPERATIONS: ReadonlySet<string> = new Set(USER_PROPERTY_OPERATIONS);

/** An object of user-property operations must contain only operations, each with an object. */
export function userPropertiesValid(value: Record<string, unknown>): boolean {
  // One pass over the own keys, without an array of them (called for nearly every event).
  let keys = 0;
  let operations = 0;
  let operationWithoutObject = false;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    keys++;
    if (!OPERATIONS.has(key)) continue;
    operations++;
    if (key !== '$clearAll' && !isPlainObject(value[key])) operationWithoutObject = true;
  }
  if (operations === 0) return true;
  return operations === keys && !operationWithoutObject;
}
