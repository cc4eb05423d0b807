import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  interpretPubAckReply,
  PublishInterruptedError,
  PublishTimeoutError,
  type LeanPubAck,
} from './lean-publisher-reply.js';
import { framesOf, headersText, type PublishFrames } from './publish-frames.js';

export * from './lean-publisher-reply.js';

export interface LeanPublishOptions {
  /** `Nats-Msg-Id`: JetStream drops a second message with the same id (reported as duplicate). */
  msgID?: string;
  /** More headers (trace context…), sent with the message id and expected sequence (the object is not changed). */
  headers?: MsgHdrs;
  /** Overrides the publisher's timeout for this publish. */
  timeoutMs?: number;
  /**
   * `Nats-Expected-Last-Subject-Sequence`: JetStream stores the message only when the last one
   * stored on its subject has this sequence (0: none is stored), and refuses it otherwise with
   * error 10071 (a JetStreamApiError whose `code` is 10071): a KV put conditional on a revision.
   * Sent with `headers` when given.
   */
  expectedLastSubjectSequence?: number;
}

/** JetStream's error code for a publish whose expected last (subject) sequence did not match. */
export const WRONG_LAST_SEQUENCE_CODE = 10071;

interface Pending {
  subject: string;
  deadline: number;
  timeoutMs: number;
  resolve: (ack: LeanPubAck) => void;
  reject: (err: Error) => void;
  /** Published while the connection was down (as far as the status stream told). */
  offline: boolean;
  /** Set at the reconnect for an offline publish: why it fails if still unanswered at its deadline. */
  dropped?: string;
}

/**
 * How long after the reconnect a publish made while disconnected may still be answered. nats.js
 * drops what is published while disconnected (each reconnect attempt resets its outbound
 * buffer), except in the last moments of the reconnect, and the status stream reports the
 * reconnect a little late: such a publish fails this long after the reconnect, not at its timeout.
 */
export const RECONNECT_GRACE_MS = 2_000;

/**
 * JetStream publishing without `js.publish()`'s per-call cost (a request with its own timer,
 * deferred and Error objects): every message is a plain publish (its frame written by
 * PublishFrames into nats.js's outbound buffer) whose reply subject is a token under one inbox
 * this publisher subscribes to once; acknowledgements are matched to their publish by that
 * token. One timer sweeps expired publishes. The answers are those of
 * `js.publish()`: a `PubAck` (`duplicate` set when the message id was already stored), a
 * `JetStreamApiError` for a refusal (its `code` is JetStream's error code), a
 * `NoStreamForSubjectError` ("no responders") when no stream stores the subject, a
 * `PublishTimeoutError` (name `TimeoutError`) when no answer comes in time, and a
 * `PublishInterruptedError` when the connection drops while the acknowledgement is awaited
 * (that acknowledgement would go to the old connection and never arrive), or, at the
 * reconnect (RECONNECT_GRACE_MS after it), for a publish made while the connection was down
 * (nats.js does not send it). No publish waits longer than its timeout. Publishing the same message id again after any error is safe.
 */
export class LeanPublisher {
  private readonly inbox = createInbox();
  private readonly pending = new Map<string, Pending>();
  private readonly sub: Subscription;
  private readonly frames: PublishFrames;
  private next = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;
  /** Between a disconnect and the reconnect (as the status stream reported them). */
  private disconnected = false;

  constructor(
    private readonly nc: NatsConnection,
    /** Default per-publish timeout. */
    private readonly timeoutMs = 5000,
  ) {
    this.frames = framesOf(nc);
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => (err ? this.failAll(err.message) : this.answered(msg)) });
    void this.watchConnection();
    void nc.closed().then(() => this.close('connection closed'));
  }

  /** Publishes acknowledged so far are not counted; this is what still waits. */
  get inFlight(): number {
    return this.pending.size;
  }

  publish(subject: string, data: Uint8Array, options: LeanPublishOptions = {}): Promise<LeanPubAck> {
    if (this.closed) return Promise.reject(new PublishInterruptedError(subject, 'publisher closed'));
    const token = (this.next++).toString(36);
    const reply = `${this.inbox}.${token}`;
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    return new Promise<LeanPubAck>((resolve, reject) => {
      // Throws at once for a message over max_payload, a closed connection or a message id with
      // CR or LF: nothing pends.
      this.frames.publish(subject, reply, headersText(options.headers, options.msgID, options.expectedLastSubjectSequence), data);
      this.pending.set(token, { subject, deadline: Date.now() + timeoutMs, timeoutMs, resolve, reject, offline: this.offline() });
      this.sweeper ??= setInterval(() => this.sweep(), Math.min(250, Math.max(10, timeoutMs / 5)));
      this.sweeper.unref?.();
    });
  }

  /**
   * Whether a publish now would be made while disconnected: nats.js's own flag when it has one
   * (set before the status stream tells), else the status stream's last word.
   */
  private offline(): boolean {
    const connected = (this.nc as { protocol?: { connected?: unknown } }).protocol?.connected;
    return typeof connected === 'boolean' ? !connected : this.disconnected;
  }

  /** Fails what still waits and stops listening. */
  close(reason = 'publisher closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(reason);
    if (!this.nc.isClosed()) this.sub.unsubscribe();
  }

  private answered(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const p = this.pending.get(token);
    if (!p) return; // Late: timed out or interrupted already.
    this.pending.delete(token);
    const h = msg.headers;
    const status = h && h.code >= 300 ? { code: h.code, description: h.description } : undefined;
    const verdict = interpretPubAckReply(p.subject, msg.data, status);
    if ('ack' in verdict) p.resolve(verdict.ack);
    else p.reject(verdict.error);
    this.stopSweeperIfIdle();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, p] of this.pending) {
      if (p.deadline > now) continue;
      this.pending.delete(token);
      p.reject(p.dropped ? new PublishInterruptedError(p.subject, p.dropped) : new PublishTimeoutError(p.subject, p.timeoutMs));
    }
    this.stopSweeperIfIdle();
  }

  private stopSweeperIfIdle(): void {
    if (this.pending.size > 0 || !this.sweeper) return;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private failAll(reason: string): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.reject(new PublishInterruptedError(p.subject, reason));
    this.stopSweeperIfIdle();
  }

  /** At the reconnect: what was published while disconnected fails soon unless answered. */
  private expireOffline(): void {
    const deadline = Date.now() + RECONNECT_GRACE_MS;
    for (const p of this.pending.values()) {
      if (!p.offline || p.deadline <= deadline) continue;
      p.deadline = deadline;
      p.dropped = 'published while NATS was disconnected, not acknowledged after the reconnect';
    }
  }

  private async watchConnection(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closed) return;
      // The server sends acknowledgements to the connection that published: after a disconnect
      // they are lost, so what waits now fails at once instead of at its timeout.
      if (s.type === 'disconnect') {
        this.disconnected = true;
        this.failAll('NATS connection lost');
      } else if (s.type === 'reconnect') {
        this.disconnected = false;
        this.expireOffline();
      }
    }
  }
}
