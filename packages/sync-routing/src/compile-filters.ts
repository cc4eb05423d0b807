import { NONE_VALUE, type AmplitudeEvent, type EventFilter, type FilterCondition } from '@inkstream/contracts';

/** Decides whether an event is selected, given the user's profile after the event. */
export type EventSelector = (event: AmplitudeEvent, profile: Record<string, unknown>) => boolean;
type Predicate = EventSelector;
type ValueTest = (value: unknown) => boolean;

/**
 * Compiles a sync's `eventFilters` once per config change into one closure: rows are OR'ed,
 * the conditions of a row AND'ed (spec/config-api.md). No filter rows select nothing.
 */
export function compileFilters(filters: readonly EventFilter[]): EventSelector {
  const rows = filters.map(compileRow);
  if (rows.length === 0) return () => false;
  if (rows.length === 1) return rows[0]!;
  return (event, profile) => rows.some((row) => row(event, profile));
}

function compileRow(filter: EventFilter): Predicate {
  const conditions = (filter.where ?? []).map(compileCondition);
  const typeMatches: (eventType: string) => boolean =
    filter.eventType === '*' ? () => true : (eventType) => eventType === filter.eventType;
  return (event, profile) => typeMatches(event.event_type) && conditions.every((c) => c(event, profile));
}

function compileCondition(condition: FilterCondition): Predicate {
  const test = compileValueTest(condition);
  const { property } = condition;
  switch (condition.propertyType) {
    case 'event':
      return (event) => test(ownValue(event.event_properties, property));
    case 'user':
      return (_event, profile) => test(ownValue(profile, property));
    case 'field':
      return (event) => test(ownValue(event, property));
  }
}

function ownValue(source: Record<string, unknown> | undefined, key: string): unknown {
  if (!source || !Object.prototype.hasOwnProperty.call(source, key)) return undefined;
  return source[key];
}

const isAbsent = (value: unknown) => value === undefined || value === null;

/** A string that is a finite number ("10", "-2.5") counts as that number. */
export function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** Equality with Amplitude's leniency: numbers and numeric strings compare as numbers. */
export function looselyEqual(actual: unknown, expected: string | number | boolean): boolean {
  if (actual === expected) return true;
  const a = asNumber(actual);
  const b = asNumber(expected);
  if (a !== undefined && b !== undefined) return a === b;
  if (typeof actual === 'boolean' || typeof expected === 'boolean') return String(actual) === String(expected);
  return false;
}

function scalars(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (const ch of glob) {
    if (ch === '*') source += '.*';
    else if (ch === '?') source += '.';
    else source += ch.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

function compileValueTest(condition: FilterCondition): ValueTest {
  const values = condition.values;
  const wantsNone = values.some((v) => v === NONE_VALUE);
  const concrete = values.filter((v) => v !== NONE_VALUE);
  const matchesAny: ValueTest = (value) =>
    scalars(value).some((item) => concrete.some((expected) => looselyEqual(item, expected)));
  const needles = concrete.map((v) => String(v).toLowerCase());
  const containsAny: ValueTest = (value) =>
    scalars(value).some(
      (item) => (typeof item === 'string' || typeof item === 'number') && needles.some((n) => String(item).toLowerCase().includes(n)),
    );
  const numbers = concrete.map(asNumber).filter((n): n is number => n !== undefined);
  const compare = (holds: (a: number, b: number) => boolean): ValueTest => (value) => {
    const a = asNumber(value);
    return a !== undefined && numbers.some((b) => holds(a, b));
  };

  switch (condition.operator) {
    case 'is':
      return (value) => (isAbsent(value) ? wantsNone : matchesAny(value));
    case 'is not':
      return (value) => (isAbsent(value) ? !wantsNone : !matchesAny(value));
    case 'contains':
      return (value) => !isAbsent(value) && containsAny(value);
    case 'does not contain':
      return (value) => isAbsent(value) || !containsAny(value);
    case 'less':
      return compare((a, b) => a < b);
    case 'less or equal':
      return compare((a, b) => a <= b);
    case 'greater':
      return compare((a, b) => a > b);
    case 'greater or equal':
      return compare((a, b) => a >= b);
    case 'set is':
      return (value) => !isAbsent(value) && sameSet(scalars(value), concrete);
    case 'set is not':
      return (value) => isAbsent(value) || !sameSet(scalars(value), concrete);
    case 'glob match': {
      const patterns = concrete.map((v) => globToRegExp(String(v)));
      return (value) =>
        scalars(value).some((item) => (typeof item === 'string' || typeof item === 'number') && patterns.some((p) => p.test(String(item))));
    }
    case 'exists':
      return (value) => !isAbsent(value);
    case 'does not exist':
      return (value) => isAbsent(value);
  }
}

/** Set equality under loose equality: every element is listed and every listed value occurs. */
function sameSet(actual: unknown[], expected: ReadonlyArray<string | number | boolean>): boolean {
  return (
    actual.every((a) => expected.some((e) => looselyEqual(a, e))) &&
    expected.every((e) => actual.some((a) => looselyEqual(a, e)))
  );
}
