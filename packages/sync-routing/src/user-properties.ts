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
  for (const key in sets) {
    if (!hasOwn(sets, key)) continue;
    if (!hasOwn(profile, key) || !sameJson(profile[key], sets[key])) return false;
  }
  return true;
}

/**
 * The operations are only `$set` and `$setOnce` and change nothing (most events repeat what the
 * profile says): applying them would give a copy whose JSON is the profile's. The profile itself
 * is answered then, so the caller has nothing to compare or copy.
 */
function onlySetsNothing(profile: Properties, userProperties: Properties): boolean {
  for (const name in userProperties) {
    if (!hasOwn(userProperties, name)) continue;
    const v = userProperties[name];
    if (name === '$set') {
      if (!isObject(v) || !setsNothing(profile, v)) return false;
    } else if (name === '$setOnce') {
      if (!isObject(v)) return false;
      for (const key in v) if (hasOwn(v, key) && (profile[key] === undefined || profile[key] === null || !hasOwn(profile, key))) return false;
    } else return false;
  }
  return true;
}

/** Whether the object has an own enumerable key that is an operation (its other keys are then ignored). */
function hasOperation(userProperties: Properties): boolean {
  for (const key in userProperties) if (OPERATIONS.has(key) && hasOwn(userProperties, key)) return true;
  return false;
}

/** The object of an operation, undefined when absent or not an object (it does nothing then). */
function operation(userProperties: Properties, name: string): Properties | undefined {
  const v = userProperties[name];
  return isObject(v) ? v : undefined;
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
 * profile itself is answered. Runs for nearly every event: own keys are walked in place (for…in
 * with hasOwn, the order of Object.keys), with no arrays of keys or entries.
 */
export function applyUserProperties(profile: Properties, userProperties: Properties | undefined): Properties {
  if (!userProperties) return profile;
  let any = false;
  for (const key in userProperties) {
    if (hasOwn(userProperties, key)) {
      any = true;
      break;
    }
  }
  if (!any) return profile;
  if (!hasOperation(userProperties)) return setsNothing(profile, userProperties) ? profile : { ...profile, ...userProperties };
  if (onlySetsNothing(profile, userProperties)) return profile;

  let next: Properties = { ...profile };
  if (userProperties.$clearAll !== undefined) next = {};
  let o = operation(userProperties, '$unset');
  if (o) for (const key in o) if (hasOwn(o, key)) delete next[key];
  o = operation(userProperties, '$setOnce');
  if (o) {
    for (const key in o) {
      if (hasOwn(o, key) && (next[key] === undefined || next[key] === null)) next[key] = o[key];
    }
  }
  o = operation(userProperties, '$set');
  if (o) for (const key in o) if (hasOwn(o, key)) next[key] = o[key];
  o = operation(userProperties, '$add');
  if (o) {
    for (const key in o) {
      if (!hasOwn(o, key)) continue;
      const increment = toNumber(o[key]);
      if (increment === undefined) continue;
      next[key] = (toNumber(next[key]) ?? 0) + increment;
    }
  }
  o = operation(userProperties, '$append');
  if (o) for (const key in o) if (hasOwn(o, key)) next[key] = [...toList(next[key]), ...toList(o[key])];
  o = operation(userProperties, '$prepend');
  if (o) for (const key in o) if (hasOwn(o, key)) next[key] = [...toList(o[key]), ...toList(next[key])];
  o = operation(userProperties, '$preInsert');
  if (o) {
    for (const key in o) {
      if (!hasOwn(o, key)) continue;
      const current = toList(next[key]);
      const missing = toList(o[key]).filter((v) => !current.some((c) => sameValue(c, v)));
      next[key] = [...missing, ...current];
    }
  }
  o = operation(userProperties, '$postInsert');
  if (o) {
    for (const key in o) {
      if (!hasOwn(o, key)) continue;
      const current = toList(next[key]);
      const missing = toList(o[key]).filter((v) => !current.some((c) => sameValue(c, v)));
      next[key] = [...current, ...missing];
    }
  }
  o = operation(userProperties, '$remove');
  if (o) {
    for (const key in o) {
      if (!hasOwn(o, key) || next[key] === undefined) continue;
      const removed = toList(o[key]);
      next[key] = toList(next[key]).filter((c) => !removed.some((r) => sameValue(c, r)));
    }
  }
  return next;
}
