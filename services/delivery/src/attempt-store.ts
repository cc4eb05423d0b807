import type { KV } from '@inkstream/bus';
import type { RetryState } from './retry-policy.js';

export interface StoredAttempts extends RetryState {
  lastStatus?: number;
  lastError?: string;
  lastAttemptAt?: number;
}

/**
 * Retry state of payloads that failed at least once, in a KV bucket keyed by message id: it
 * survives restarts (the payload itself waits in JetStream) and costs nothing on the happy path,
 * where a payload is delivered on its first try and nothing is written.
 */
export class AttemptStore {
  constructor(private readonly kv: KV) {}

  async get(messageId: string): Promise<StoredAttempts | undefined> {
    const entry = await this.kv.get(messageId);
    if (!entry || entry.operation !== 'PUT' || entry.length === 0) return undefined;
    return entry.json<StoredAttempts>();
  }

  async put(messageId: string, state: StoredAttempts): Promise<void> {
    await this.kv.put(messageId, JSON.stringify(state));
  }

  async forget(messageId: string): Promise<void> {
    await this.kv.purge(messageId);
  }
}
