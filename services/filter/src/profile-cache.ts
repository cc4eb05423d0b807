import type { ProfileEntry } from '@inkstream/sync-routing';

export interface ProfileCacheLimits {
  /** Most profiles kept. */
  maxEntries: number;
  /** Most bytes kept, counted as the profiles' JSON size. */
  maxBytes: number;
}

/** A cached profile with the KV revision it was read or written at, and its ingest partition. */
export interface CachedProfile {
  profile: ProfileEntry;
  bytes: number;
  /** KV revision of the stored value this is (0: no value stored yet). */
  revision: number;
  /** Ingest partition of the user (-1: unknown), so a partition's profiles can be forgotten. */
  partition: number;
  /** What the profile was saved with (ProfileStore `save`'s `head`), if anything. */
  head: string | undefined;
}

/**
 * Least-recently-used profiles, bounded both by count and by bytes (the JSON size of each
 * profile, which is what a profile costs to read again). A profile larger than a quarter of the
 * byte budget is not kept at all: one user must not empty the cache for everyone else.
 */
export class ProfileCache {
  private readonly entries = new Map<string, CachedProfile>();
  private total = 0;

  constructor(private readonly limits: ProfileCacheLimits) {}

  get size(): number {
    return this.entries.size;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.total;
  }

  /** Keys held, least recently used first. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  get(key: string): ProfileEntry | undefined {
    return this.entry(key)?.profile;
  }

  /** The cached profile with its revision and partition; makes it the most recently used. */
  entry(key: string): CachedProfile | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit;
  }

  set(key: string, profile: ProfileEntry, bytes: number, revision = 0, partition = -1, head?: string): void {
    this.delete(key);
    if (this.limits.maxEntries <= 0 || bytes > this.limits.maxBytes / 4) return;
    this.entries.set(key, { profile, bytes, revision, partition, head });
    this.total += bytes;
    while (this.entries.size > this.limits.maxEntries || this.total > this.limits.maxBytes) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.delete(oldest);
    }
  }

  delete(key: string): void {
    const hit = this.entries.get(key);
    if (!hit) return;
    this.entries.delete(key);
    this.total -= hit.bytes;
  }

  /** Forgets the profiles of one ingest partition (another replica may have changed them). */
  forgetPartition(partition: number): number {
    let forgotten = 0;
    for (const [key, hit] of this.entries) {
      if (hit.partition !== partition) continue;
      this.entries.delete(key);
      this.total -= hit.bytes;
      forgotten++;
    }
    return forgotten;
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }
}
