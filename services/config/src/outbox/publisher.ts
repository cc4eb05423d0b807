import type { ConfigSnapshot } from '@inkstream/contracts';

export type PublishResult = 'published' | 'stale';

/** Where outbox snapshots go: the NATS config bucket in production, anything in tests. */
export interface SnapshotPublisher {
  /**
   * Stores the snapshot under its key, unless the store already holds this version or a newer
   * one ('stale'). Throws when the store cannot be reached; the row stays in the outbox.
   */
  publish(key: string, snapshot: ConfigSnapshot): Promise<PublishResult>;
}
