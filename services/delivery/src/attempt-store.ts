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
 * A payload of a segment already settled (delivered, discarded or dead-lettered) while its
 * message stays unacknowledged: a redelivery of the segment skips it. Kept under the payload's
 * key like retry state (it replaces it), purged once the message is acknowledged.
 */
export interface DoneMark {
  done: true;
}

export function isDone(entry: StoredAttempts | DoneMark | undefined): entry is DoneMark {
  return (entry as DoneMark | undefined)?.done === true;
}

const DONE_JSON = JSON.stringify({ done: true } satisfies DoneMark);

/**
 * Retry state of payloads that failed at least once, in a KV bucket keyed by message id: it
 * survives restarts and hand-overs (the payload itself waits in JetStream, unacknowledged) and
 * costs nothing on the happy path, where a payload is delivered on its first try and nothing is
 * written or read (only redelivered messages are looked up).
 */
export class AttemptStore {
  constructor(private readonly kv: KV) {}

  /** The retry state of a payload, or its done mark (a payload of a segment already settled). */
  async get(messageId: string): Promise<StoredAttempts | DoneMark | undefined> {
    const entry = await this.kv.get(attemptKey(messageId));
    if (!entry || entry.operation !== 'PUT' || entry.length === 0) return undefined;
    return entry.json<StoredAttempts | DoneMark>();
  }

  async markDone(messageId: string): Promise<void> {
    await this.kv.put(attemptKey(messageId), DONE_JSON);
  }

  /**
   * The highest stream sequence of a sync's messages that have (or had) state here (retry state,
   * done marks): a message at or below it may have been delivered before even when JetStream
   * does not say so (nats-server 2.9 rolls back the delivery count of a nak'ed message).
   */
  async statefulUpTo(durable: string): Promise<number> {
    const entry = await this.kv.get(statefulKey(durable));
    if (!entry || entry.operation !== 'PUT' || entry.length === 0) return 0;
    const n = Number(entry.string());
    return Number.isFinite(n) ? n : 0;
  }

  async putStatefulUpTo(durable: string, seq: number): Promise<void> {
    await this.kv.put(statefulKey(durable), String(seq));
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

/** Not a message id's key: those have no dot, or start with `b64.`. */
export function statefulKey(durable: string): string {
  return `stateful.${attemptKey(durable)}`;
}
