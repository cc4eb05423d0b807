import type { KV } from '@inkstream/bus';
import { emptyProfile, profileKey, type ProfileEntry } from '@inkstream/sync-routing';

/**
 * Profiles live in a JetStream KV bucket (durable across restarts and replicas), with an LRU
 * cache in front: the filter replica that owns a user's partition is its only writer.
 */
export class ProfileStore {
  private readonly cache = new Map<string, ProfileEntry>();

  constructor(
    private readonly kv: KV,
    private readonly cacheSize: number,
  ) {}

  async load(projectId: string, userKey: string): Promise<ProfileEntry> {
    const key = profileKey(projectId, userKey);
    const cached = this.cache.get(key);
    if (cached) {
      this.cache.delete(key);
      this.cache.set(key, cached);
      return cached;
    }
    const stored = await this.kv.get(key);
    const entry = stored && stored.operation === 'PUT' && stored.length > 0 ? stored.json<ProfileEntry>() : emptyProfile();
    this.remember(key, entry);
    return entry;
  }

  async save(projectId: string, userKey: string, entry: ProfileEntry): Promise<void> {
    const key = profileKey(projectId, userKey);
    await this.kv.put(key, JSON.stringify(entry));
    this.remember(key, entry);
  }

  /** Forgets cached profiles, e.g. when a partition moves to another replica. */
  clear(): void {
    this.cache.clear();
  }

  private remember(key: string, entry: ProfileEntry): void {
    this.cache.delete(key);
    this.cache.set(key, entry);
    if (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }
}
