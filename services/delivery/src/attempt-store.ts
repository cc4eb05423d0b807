import type { KV } from '@inkstream/bus';
import type { RetryState } from './retry-policy.js';

export interface StoredAttempts extends RetryState {
  lastStatus?: number;
  lastError?: string;
  lastAttemptAt?: number;
  /** Epoch ms before which the payload is not tried again (its backoff or Retry-After). */
  nextAttemptAt?: number;
}

/**
 * Retry state of payloads that failed at least once, in a KV bucket keyed by message id: it
 * survives restarts and hand-overs (the payload itself waits in JetStream, unacknowledged) and
 * costs nothing on the happy path, where a payload is delivered on its first try and nothing is
 * written or read (only redelivered messages are looked up).
 */
export class AttemptStore {
  constructor(private readonly kv: KV) {}

  async get(messageId: string): Promise<StoredAttempts | undefined> {
    const entry = await this.kv.get(attemptKey(messageId));
    if (!entry || entry.operation !== 'PUT' || entry.length === 0) return undefined;
    return entry.json<StoredAttempts>();
  }

  async put(messageId: string, state: StoredAttempts): Promise<void> {
    await this.kv.put(attemptKey(messageId), JSON.stringify(state));
  }

  async forget(messageId: string): Promise<void> {
    await this.kv.purge(attemptKey(messageId));
  }
}

/** KV keys allow `[-/_=.a-zA-Z0-9]`; message ids are uuids or derived hashes, anything else is encoded. */
export function attemptKey(messageId: string): string {
  return /^[-_=a-zA-Z0-9]+$/.test(messageId) ? messageId : `b64.${Buffer.from(messageId).toString('base64url')}`;
}
