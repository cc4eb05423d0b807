import { USER_PROPERTY_OPERATIONS } from '@inkstream/contracts';
import { sameJson } from './same-json.js';

export type Properties = Record<string, unknown>;

const OPERATIONS: ReadonlySet<string> = new Set(USER_PROPERTY_OPERATIONS);

function isObject(value: unknown): value is Properties {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toList(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    return JSON.stringify(a) === JSON.stringify(b);
  }
  return false;
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

const hasOwn = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key);

/** Every key of `sets` is in `profile` already with the same JSON: setting them changes nothing. */
function setsNothing(profile: Properties, sets: Properties): boolean {
  for (const key of Object.keys(sets)) {
    if (!hasOwn(profile, key) || !sameJson(profile[key], sets[key])) return false;
  }
  return true;
}

/**
 * The operations are only `$set` and `$setOnce` and change nothing (most events repeat what the
 * profile says): applying them would give a copy whose JSON is the profile's. The profile itself
 * is answered then, so the caller has nothing to compare or copy.
 */
function onlySetsNothing(profile: Properties, userProperties: Properties, keys: readonly string[]): boolean {
  for (const name of keys) {
    const v = userProperties[name];
    if (name === '$set') {
      if (!isObject(v) || !setsNothing(profile, v)) return false;
    } else if (name === '$setOnce') {
      if (!isObject(v)) return false;
      for (const key of Object.keys(v)) if (profile[key] === undefined || profile[key] === null || !hasOwn(profile, key)) return false;
    } else return false;
  }
  return true;
}

/**
 * Applies an event's `user_properties` to a profile the way Amplitude does and returns the new
 * profile (the input is not modified). Plain keys are a `$set`; operation objects run in the
 * order of USER_PROPERTY_OPERATIONS:
 * - `$clearAll` empties the profile; `$unset` removes keys;
 * - `$setOnce` sets keys that have no value yet; `$set` sets keys;
 * - `$add` adds numbers (a missing or non-numeric value counts as 0);
 * - `$append`/`$prepend` add values (a list adds each item) at the end/front, turning a
 *   scalar into a list; `$postInsert`/`$preInsert` do so only for values not already there;
 * - `$remove` removes every occurrence of the values from a list.
 * When the result would serialize as the profile does (a `$set` of the values it holds), the
 * profile itself is answered.
 */
export function applyUserProperties(profile: Properties, userProperties: Properties | undefined): Properties {
  if (!userProperties) return profile;
  const keys = Object.keys(userProperties);
  if (keys.length === 0) return profile;
  if (!keys.some((k) => OPERATIONS.has(k))) return setsNothing(profile, userProperties) ? profile : { ...profile, ...userProperties };
  if (onlySetsNothing(profile, userProperties, keys)) return profile;

  let next: Properties = { ...profile };
  const op = (name: string): Properties => {
    const v = userProperties[name];
    return isObject(v) ? v : {};
  };
  if (userProperties.$clearAll !== undefined) next = {};
  for (const key of Object.keys(op('$unset'))) delete next[key];
  for (const [key, value] of Object.entries(op('$setOnce'))) {
    if (next[key] === undefined || next[key] === null) next[key] = value;
  }
  for (const [key, value] of Object.entries(op('$set'))) next[key] = value;
  for (const [key, value] of Object.entries(op('$add'))) {
    const increment = toNumber(value);
    if (increment === undefined) continue;
    next[key] = (toNumber(next[key]) ?? 0) + increment;
  }
  for (const [key, value] of Object.entries(op('$append'))) next[key] = [...toList(next[key]), ...toList(value)];
  for (const [key, value] of Object.entries(op('$prepend'))) next[key] = [...toList(value), ...toList(next[key])];
  for (const [key, value] of Object.entries(op('$preInsert'))) {
    const current = toList(next[key]);
    const missing = toList(value).filter((v) => !current.some((c) => sameValue(c, v)));
    next[key] = [...missing, ...current];
  }
  for (const [key, value] of Object.entries(op('$postInsert'))) {
    const current = toList(next[key]);
    const missing = toList(value).filter((v) => !current.some((c) => sameValue(c, v)));
    next[key] = [...current, ...missing];
  }
  for (const [key, value] of Object.entries(op('$remove'))) {
    if (next[key] === undefined) continue;
    const removed = toList(value);
    next[key] = toList(next[key]).filter((c) => !removed.some((r) => sameValue(c, r)));
  }
  return next;
}
