/**
 * What declaring a stream (or a KV bucket's stream) does to one that already exists: a pure
 * decision, so the rules are readable and tested by a table.
 *
 * - Only the owner of a stream changes it; the other services leave it as it is (they only
 *   create it when it is missing). A tunable such as ingest's dedup window therefore holds
 *   whichever service starts last.
 * - The owner brings every declared setting to its declared value, except the limits that decide
 *   how much stored data is kept: those never shrink by themselves (a shorter `max_age` or a
 *   smaller `max_msgs_per_subject` would delete data on the spot). The larger existing value is
 *   kept and reported; shrinking is an operator's deliberate act (`nats stream edit`).
 * - Copies (`num_replicas`) only ever grow by themselves (JetStream copies the stored data to the
 *   new peers). A replica still running with an older setting, during a rolling upgrade say,
 *   must not take the copies back down; fewer copies is an operator's `nats stream edit` too.
 * - Settings JetStream cannot change on an existing stream (name, retention, storage) are never
 *   sent.
 */

/** Stream settings that say how much stored data is kept. */
export const RETENTION_LIMITS = ['max_age', 'max_bytes', 'max_msgs', 'max_msgs_per_subject'] as const;

/** Never part of an update: JetStream refuses to change them on an existing stream. */
const IMMUTABLE = new Set(['name', 'retention', 'storage']);

export interface SettingDifference {
  setting: string;
  current: unknown;
  declared: unknown;
}

export interface KeptSetting extends SettingDifference {
  /**
   * `not-owner`: another service sets it; `retention`: the declared value would delete stored
   * data; `copies`: the declared value would keep fewer copies.
   */
  why: 'not-owner' | 'retention' | 'copies';
}

export interface StreamUpdatePlan {
  /** The settings to send to `streams.update`; undefined when nothing is to change. */
  update: Record<string, unknown> | undefined;
  /** Applied by the update. */
  changes: SettingDifference[];
  /** Declared but left as they are, and why. */
  kept: KeptSetting[];
}

export interface PlanRules {
  /** This service owns the stream: it may change it. */
  owned: boolean;
  /** Limits that never shrink. Default RETENTION_LIMITS. */
  protectedLimits?: readonly string[];
}

export function planStreamUpdate(current: object, declared: object, rules: PlanRules): StreamUpdatePlan {
  const cur = current as Record<string, unknown>;
  const protectedLimits = new Set(rules.protectedLimits ?? RETENTION_LIMITS);
  const changes: SettingDifference[] = [];
  const kept: KeptSetting[] = [];
  for (const [setting, value] of Object.entries(declared)) {
    if (value === undefined || IMMUTABLE.has(setting) || same(cur[setting], value)) continue;
    const difference = { setting, current: cur[setting], declared: value };
    if (!rules.owned) kept.push({ ...difference, why: 'not-owner' });
    else if (protectedLimits.has(setting) && shrinks(cur[setting], value)) kept.push({ ...difference, why: 'retention' });
    else if (setting === 'num_replicas' && limitOf(value) < limitOf(cur[setting])) kept.push({ ...difference, why: 'copies' });
    else changes.push(difference);
  }
  // JetStream refuses a duplicate window longer than max_age (a lease bucket's shorter TTL).
  const maxAge = changes.find((c) => c.setting === 'max_age')?.declared;
  const window = changes.find((c) => c.setting === 'duplicate_window')?.declared ?? cur.duplicate_window;
  if (typeof maxAge === 'number' && maxAge > 0 && typeof window === 'number' && window > maxAge) {
    const i = changes.findIndex((c) => c.setting === 'duplicate_window');
    if (i >= 0) changes.splice(i, 1);
    changes.push({ setting: 'duplicate_window', current: cur.duplicate_window, declared: maxAge });
  }
  const update = changes.length > 0 ? Object.fromEntries(changes.map((c) => [c.setting, c.declared])) : undefined;
  return { update, changes, kept };
}

/** A limit of 0, -1 or none means unlimited. */
function limitOf(value: unknown): number {
  return typeof value === 'number' && value > 0 ? value : Number.POSITIVE_INFINITY;
}

function shrinks(current: unknown, declared: unknown): boolean {
  return limitOf(declared) < limitOf(current);
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
