import { encodeJson, type KV } from '@inkstream/bus';
import type { ConfigSnapshot } from '@inkstream/contracts';
import type { PublishResult, SnapshotPublisher } from './publisher.js';

// JetStream API error codes for a failed "expected last subject sequence" check.
const WRONG_LAST_SEQUENCE = new Set([10071, 10164]);
const MAX_ATTEMPTS = 5;

/**
 * Writes snapshots to the config bucket with a compare-and-set on the key's revision, and
 * never replaces a newer version with an older one: two config replicas relaying at once, or
 * a re-seed racing a change, cannot leave a stale snapshot as the key's last value.
 */
export function createKvPublisher(kv: KV, isConnected: () => boolean = () => true): SnapshotPublisher {
  return {
    async publish(key: string, snapshot: ConfigSnapshot): Promise<PublishResult> {
      if (!isConnected()) throw new Error('NATS is not connected');
      const data = encodeJson(snapshot);
      for (let attempt = 1; ; attempt++) {
        const entry = await kv.get(key);
        if (entry?.operation === 'PUT' && heldVersion(entry.json.bind(entry)) >= snapshot.version) return 'stale';
        try {
          await kv.put(key, data, { previousSeq: entry?.revision ?? 0 });
          return 'published';
        } catch (err) {
          if (!isWrongLastSequence(err) || attempt >= MAX_ATTEMPTS) throw err;
        }
      }
    },
  };
}

function heldVersion(read: () => unknown): number {
  try {
    const version = (read() as { version?: unknown } | null)?.version;
    return typeof version === 'number' ? version : -1;
  } catch {
    return -1;
  }
}

/** A write refused because the key's revision is not the one it was conditional on. */
export function isWrongLastSequence(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return (
    (typeof code === 'number' && WRONG_LAST_SEQUENCE.has(code)) ||
    /wrong last sequence/i.test((err as Error)?.message ?? '')
  );
}
