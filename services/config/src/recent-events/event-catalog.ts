import type { IngestedRecord } from '@inkstream/contracts';

/** A name seen in recent events and how many of them had it. */
export interface SeenName {
  name: string;
  count: number;
}

/** What the console suggests when an admin writes filters and allow-lists. */
export interface EventCatalog {
  /** Event types (`$identify` for identifications), most frequent first. */
  eventTypes: SeenName[];
  /** Top-level keys of `event_properties`. */
  eventProperties: SeenName[];
  /** Keys of `user_properties`, looking inside operations (`$set`, `$setOnce`, `$add`, …). */
  userProperties: SeenName[];
  /** Top-level event fields that were present (`user_id`, `platform`, `country`, …). */
  fields: SeenName[];
  /** How many events the suggestions were drawn from. */
  sampled: number;
}

/** The fields of an event a `field` condition can test, as opposed to property objects. */
const NOT_FIELDS = new Set(['event_properties', 'user_properties', 'groups', 'group_properties', 'event_type']);

/** At most this many names per list: suggestions, not an inventory. */
export const CATALOG_LIMIT = 200;

/**
 * Sums up which event types and property names recent events of a project used, most frequent
 * first (ties by name), each name counted once per event.
 */
export function eventCatalog(records: readonly IngestedRecord[]): EventCatalog {
  const eventTypes = new Map<string, number>();
  const eventProperties = new Map<string, number>();
  const userProperties = new Map<string, number>();
  const fields = new Map<string, number>();
  for (const { event } of records) {
    bump(eventTypes, [event.event_type]);
    bump(eventProperties, keysOf(event.event_properties));
    bump(userProperties, userPropertyNames(event.user_properties));
    bump(fields, Object.keys(event).filter((k) => !NOT_FIELDS.has(k) && (event as Record<string, unknown>)[k] != null));
  }
  return {
    eventTypes: ranked(eventTypes),
    eventProperties: ranked(eventProperties),
    userProperties: ranked(userProperties),
    fields: ranked(fields),
    sampled: records.length,
  };
}

/** Plain keys, or the keys inside `$set`-style operations (Amplitude does not mix the two). */
export function userPropertyNames(userProperties: unknown): string[] {
  const names = new Set<string>();
  for (const [key, value] of Object.entries(asObject(userProperties))) {
    if (key.startsWith('$')) {
      if (key === '$clearAll') continue;
      for (const inner of Object.keys(asObject(value))) names.add(inner);
    } else {
      names.add(key);
    }
  }
  return [...names];
}

function keysOf(value: unknown): string[] {
  return Object.keys(asObject(value));
}

function asObject(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function bump(counts: Map<string, number>, names: Iterable<string>): void {
  for (const name of new Set(names)) counts.set(name, (counts.get(name) ?? 0) + 1);
}

function ranked(counts: Map<string, number>): SeenName[] {
  return [...counts]
    .map(([name, count]) => ({ name, count }))
    .sort((a, b) => b.count - a.count || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .slice(0, CATALOG_LIMIT);
}
