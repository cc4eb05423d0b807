import type { KV } from '@inkstream/bus';
import { emptyProfile, profileKey, type ProfileEntry } from '@inkstream/sync-routing';
import { ProfileCache, type ProfileCacheLimits } from './profile-cache.js';

export interface ProfileStoreOptions extends ProfileCacheLimits {
  /** Called when a stored profile cannot be parsed (it is then treated as a new user's). */
  onUnreadable?: (key: string, err: unknown) => void;
}

/**
 * Profiles live in a JetStream KV bucket (durable across restarts and replicas), with an LRU
 * cache in front bounded by count and bytes: the filter replica that owns a user's partition is
 * its only writer. A failed read or write throws; the caller retries, holding the user's lane.
 */
export class ProfileStore {
  readonly cache: ProfileCache;

  constructor(
    private readonly kv: KV,
    private readonly options: ProfileStoreOptions,
  ) {
    this.cache = new ProfileCache(options);
  }

  async load(projectId: string, userKey: string): Promise<ProfileEntry> {
    const key = profileKey(projectId, userKey);
    const cached = this.cache.get(key);
    if (cached) return cached;
    const stored = await this.kv.get(key);
    if (!stored || stored.operation !== 'PUT' || stored.length === 0) return emptyProfile();
    let entry: ProfileEntry;
    try {
      entry = stored.json<ProfileEntry>();
    } catch (err) {
      // Only the filter writes this bucket; a value that is not JSON can never become readable.
      this.options.onUnreadable?.(key, err);
      return emptyProfile();
    }
    this.cache.set(key, entry, stored.length);
    return entry;
  }

  /** Stores a profile; `serialized` is its JSON when the caller has it already. */
  async save(projectId: string, userKey: string, entry: ProfileEntry, serialized = JSON.stringify(entry)): Promise<void> {
    const key = profileKey(projectId, userKey);
    await this.kv.put(key, serialized);
    this.cache.set(key, entry, Buffer.byteLength(serialized));
  }

  /** Forgets cached profiles, e.g. when a partition moves to another replica. */
  clear(): void {
    this.cache.clear();
  }
}
