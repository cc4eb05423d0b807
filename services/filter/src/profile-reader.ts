import { randomBytes } from 'node:crypto';
import type { Bus, KV } from '@inkstream/bus';

type NatsConnection = Bus['nc'];
/** What the reader reads of an answer. */
interface Msg {
  subject: string;
  data: Uint8Array;
  headers?: { code: number; description: string; get(key: string): string };
}

/** A profile as stored in KV: what `ProfileStore.load` reads of a KV entry. */
export interface StoredProfile {
  /** KV revision (stream sequence) of the entry. */
  revision: number;
  operation: 'PUT' | 'DEL' | 'PURGE';
  /** The value's bytes (empty for a delete or purge marker). */
  value: Uint8Array;
}

/** How the profile store reads one profile: the key's latest entry, null when it has none. */
export interface ProfileReader {
  get(key: string): Promise<StoredProfile | null>;
}

/** Through the KV client: `kv.get`, one request each (a timer, a deferred and Error objects per read). */
export function kvProfileReader(kv: KV): ProfileReader {
  return {
    get: async (key) => {
      const e = await kv.get(key);
      return e ? { revision: e.revision, operation: e.operation, value: e.value } : null;
    },
  };
}

interface Waiting {
  subject: string;
  deadline: number;
  resolve: (stored: StoredProfile | null) => void;
  reject: (err: unknown) => void;
}

/**
 * Profile reads as plain publishes of the JetStream direct get the KV client sends
 * (`$JS.API.DIRECT.GET.<stream>.$KV.<bucket>.<key>`, last message of the key's subject) with a
 * reply subject under one inbox this reader subscribes to once; answers are matched by that
 * token, and one timer sweeps reads unanswered after `timeoutMs` (rejected: the filter retries).
 * No request object, timer or Error per read, which `kv.get` makes. The answer is read as the KV
 * client reads it: revision from `Nats-Sequence`, operation from `KV-Operation` (a `MaxAge`
 * marker is a purge), 404 for a key never written. Only for a bucket the lean writer accepts
 * (openLeanProfileWriter: no domain or API prefix, no codec) whose stream allows direct gets:
 * `openLeanProfileReader` checks the latter.
 */
export class LeanProfileReader implements ProfileReader {
  private readonly inbox = `_INBOX.${randomBytes(11).toString('hex')}`;
  private readonly pending = new Map<string, Waiting>();
  private readonly sub: { unsubscribe(): void };
  private next = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    /** The bucket's stream (`KV_<bucket>`). */
    private readonly stream: string,
    /** `$KV.<bucket>.`: the subject of a key is this and the key. */
    private readonly subjectPrefix: string,
    private readonly timeoutMs = 5_000,
  ) {
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => (err ? this.failAll(err) : this.answered(msg)) });
  }

  get(key: string): Promise<StoredProfile | null> {
    if (this.closed) return Promise.reject(new Error('profile reader closed'));
    const subject = this.subjectPrefix + key;
    const token = (this.next++).toString(36);
    return new Promise<StoredProfile | null>((resolve, reject) => {
      // Throws at once on a closed connection: nothing pends.
      this.nc.publish(`$JS.API.DIRECT.GET.${this.stream}.${subject}`, undefined, { reply: `${this.inbox}.${token}` });
      this.pending.set(token, { subject, deadline: Date.now() + this.timeoutMs, resolve, reject });
      if (this.sweeper === undefined) {
        this.sweeper = setInterval(() => this.sweep(), Math.min(250, Math.max(10, this.timeoutMs / 5)));
        this.sweeper.unref?.();
      }
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('profile reader closed'));
    if (!this.nc.isClosed()) this.sub.unsubscribe();
  }

  private answered(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const w = this.pending.get(token);
    if (!w) return; // Late: timed out already.
    this.pending.delete(token);
    this.stopSweeperIfIdle();
    const h = msg.headers;
    if (!h) {
      w.reject(new Error(`direct get of ${w.subject}: answer without headers`));
      return;
    }
    if (h.code !== 0) {
      if (h.code === 404) w.resolve(null);
      else w.reject(new Error(`direct get of ${w.subject}: ${h.code} ${h.description}`));
      return;
    }
    // The last message of exactly this subject: anything else is no entry of the key.
    if (h.get('Nats-Subject') !== w.subject) {
      w.resolve(null);
      return;
    }
    const revision = Number(h.get('Nats-Sequence'));
    if (!Number.isSafeInteger(revision) || revision <= 0) {
      w.reject(new Error(`direct get of ${w.subject}: no sequence in the answer`));
      return;
    }
    const operation = h.get('Nats-Marker-Reason') === 'MaxAge' ? 'PURGE' : ((h.get('KV-Operation') || 'PUT') as StoredProfile['operation']);
    w.resolve({ revision, operation, value: msg.data });
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, w] of this.pending) {
      if (w.deadline > now) continue;
      this.pending.delete(token);
      w.reject(new Error(`direct get of ${w.subject}: no answer within ${this.timeoutMs} ms`));
    }
    this.stopSweeperIfIdle();
  }

  private stopSweeperIfIdle(): void {
    if (this.pending.size > 0 || this.sweeper === undefined) return;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private failAll(err: unknown): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    this.stopSweeperIfIdle();
    for (const w of waiting) w.reject(err);
  }
}

/**
 * A LeanProfileReader for a bucket opened with the KV client, after checking its stream allows
 * direct gets (what the KV client itself uses when it does); else the KV client's reader. Call
 * it after openLeanProfileWriter, which checks the rest of the bucket.
 */
export async function openLeanProfileReader(kv: KV, nc: NatsConnection): Promise<ProfileReader> {
  const b = kv as unknown as { bucket?: unknown; useJsPrefix?: unknown; direct?: unknown };
  if (typeof b.bucket !== 'string' || b.useJsPrefix) return kvProfileReader(kv);
  const { config } = (await kv.status()).streamInfo;
  if (!config.allow_direct || config.mirror_direct || config.mirror) return kvProfileReader(kv);
  return new LeanProfileReader(nc, config.name, `$KV.${b.bucket}.`);
}
