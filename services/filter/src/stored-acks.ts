import { ACK_WAIT_MS, type JsMsg } from '@inkstream/bus';

/**
 * Messages whose processing is done but whose profile write is not stored yet: each is acked
 * once its write is stored, or handed to `onFailed` (which naks it) when the write never will
 * be. Until then they are kept alive with `working()` like the consumer runner does for the
 * messages it holds, so a slow or retried write does not let JetStream redeliver them.
 */
export class StoredAcks {
  private readonly waiting = new Map<JsMsg, Promise<void>>();
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly heartbeatMs: number = Math.floor(ACK_WAIT_MS / 3)) {}

  /** Messages waiting for their write. */
  get size(): number {
    return this.waiting.size;
  }

  add(msg: JsMsg, stored: Promise<void>, onFailed: (err: unknown) => void): void {
    const done = (): void => {
      this.waiting.delete(msg);
      if (this.waiting.size === 0 && this.heartbeat) {
        clearInterval(this.heartbeat);
        this.heartbeat = undefined;
      }
    };
    // One reaction per message (not then/catch/finally): an ack or nak that throws is ignored.
    const tracked = stored.then(
      () => {
        try {
          msg.ack();
        } catch {
          // The connection is gone: the message comes back.
        }
        done();
      },
      (err: unknown) => {
        try {
          onFailed(err);
        } catch {
          // As above.
        }
        done();
      },
    );
    this.waiting.set(msg, tracked);
    if (!this.heartbeat) {
      this.heartbeat = setInterval(() => {
        for (const m of this.waiting.keys()) m.working();
      }, this.heartbeatMs);
      this.heartbeat.unref();
    }
  }

  /** Resolves once every message handed over so far is acked or naked. */
  async drain(): Promise<void> {
    while (this.waiting.size > 0) await Promise.allSettled([...this.waiting.values()]);
  }
}
