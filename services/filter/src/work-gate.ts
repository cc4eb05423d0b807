/** Default bound on the bytes of ingest messages a replica works at once (FILTER_MAX_WORKING_BYTES). */
export const DEFAULT_MAX_WORKING_BYTES = 256 * 1024;

/**
 * Bounds the ingest messages a filter replica works at once, across its partitions, by their
 * bytes: a message is parsed and routed only once it is let in, and gives its room back once its
 * lanes are done (its payloads published, its profiles staged). Messages waiting at the gate are
 * the raw bytes JetStream handed over, nothing parsed.
 *
 * Why: a partition consumer holds up to FILTER_MAX_IN_FLIGHT messages (its max_ack_pending), 16
 * partitions at once. A saturated filter that parses every message it holds keeps thousands of
 * records, lanes and payloads alive for hundreds of milliseconds while they wait for each other,
 * and the garbage collector copies them into the old generation (about a quarter of the filter's
 * CPU in the bench). Working a few hundred kilobytes at a time keeps them young.
 *
 * What is held is not bounded here: a message whose work waits longer than `holdLimitMs` (a user
 * whose profile read or publish keeps failing, and the messages of the same users behind it)
 * stops counting, so a stuck user holds at most its own partition (max_ack_pending), as before,
 * and never the whole replica.
 *
 * Order: messages are let in first come, first served (a message that fits waits all the same
 * while another waits before it), so a partition's messages start in the order the consumer
 * delivered them, and a user's lanes are chained in stream order.
 */
export class WorkGate {
  /** Bytes of the messages being worked (let in, not done, and not past the hold limit). */
  private working = 0;
  /** Entries let in and not given back, oldest first (Map keeps insertion order). */
  private readonly active = new Map<Entry, number>();
  private readonly waiting: Entry[] = [];
  private waitingHead = 0;
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    /** Bytes worked at once; one message larger than this is let in alone. */
    private readonly maxBytes: number,
    /** A message worked longer than this stops counting (it is held, not worked). */
    private readonly holdLimitMs: number,
    /** Called for each message that stops counting at the hold limit. */
    private readonly onOverdue: () => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** Bytes of the messages being worked now. */
  get bytes(): number {
    return this.working;
  }

  /** Messages waiting to be let in. */
  get queued(): number {
    return this.waiting.length - this.waitingHead;
  }

  /**
   * Runs `work` once `bytes` fit (at once, in the caller's turn, when they do and no one waits);
   * its room is given back when the promise it returns settles. Settles as that promise does.
   */
  run(bytes: number, work: () => Promise<void>): Promise<void> {
    if (this.queued === 0 && this.fits(bytes)) return this.start(bytes, work);
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ bytes, work, resolve, reject, counted: false });
    });
  }

  /** Stops the sweep timer (the gate is not used any more). */
  close(): void {
    if (this.sweep) clearInterval(this.sweep);
    this.sweep = undefined;
  }

  private fits(bytes: number): boolean {
    return this.working === 0 || this.working + bytes <= this.maxBytes;
  }

  private start(bytes: number, work: () => Promise<void>, entry?: Entry): Promise<void> {
    const e: Entry = entry ?? { bytes, work, resolve: undefined, reject: undefined, counted: false };
    e.counted = true;
    this.working += bytes;
    this.active.set(e, this.now());
    this.sweep ??= setInterval(() => this.expire(), Math.max(10, Math.floor(this.holdLimitMs / 2))).unref();
    let done: Promise<void>;
    try {
      done = work();
    } catch (err) {
      done = Promise.reject(err);
    }
    const settled = () => this.giveBack(e);
    done.then(settled, settled);
    return done;
  }

  private giveBack(e: Entry): void {
    if (e.counted) {
      e.counted = false;
      this.working -= e.bytes;
    }
    this.active.delete(e);
    this.admit();
  }

  /** Lets in waiting messages, in order, while they fit. */
  private admit(): void {
    while (this.waitingHead < this.waiting.length) {
      const next = this.waiting[this.waitingHead]!;
      if (!this.fits(next.bytes)) break;
      this.waiting[this.waitingHead++] = undefined as unknown as Entry;
      if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
        this.waiting.splice(0, this.waitingHead);
        this.waitingHead = 0;
      }
      this.start(next.bytes, next.work, next).then(next.resolve!, next.reject!);
    }
    if (this.active.size === 0 && this.sweep) {
      clearInterval(this.sweep);
      this.sweep = undefined;
    }
  }

  /** Messages worked longer than the hold limit stop counting: they are held, and others go on. */
  private expire(): void {
    const limit = this.now() - this.holdLimitMs;
    let freed = false;
    for (const [e, since] of this.active) {
      if (since > limit) break;
      this.active.delete(e);
      if (e.counted) {
        e.counted = false;
        this.working -= e.bytes;
        freed = true;
        this.onOverdue();
      }
    }
    if (freed || this.active.size === 0) this.admit();
  }
}

interface Entry {
  bytes: number;
  work: () => Promise<void>;
  resolve: (() => void) | undefined;
  reject: ((err: unknown) => void) | undefined;
  /** Its bytes count in `working`. */
  counted: boolean;
}
