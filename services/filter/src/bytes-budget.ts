/**
 * Admits work by its size, first come first served: at most `maxBytes` admitted and not yet
 * released at once, except that a single item larger than the whole budget is admitted alone
 * (when nothing else is), so it is never stuck. Items wait in arrival order, and one never
 * passes another, so what is admitted keeps the order it arrived in.
 *
 * The filter admits each ingest message by its size before decoding it: decoded segments and the
 * per-record state of their processing are what its heap holds, and JetStream's max_ack_pending
 * counts messages, whatever their size.
 */
export class BytesBudget {
  private used = 0;
  private readonly waiting: Array<{ bytes: number; admit: () => void }> = [];
  private head = 0;

  constructor(readonly maxBytes: number) {
    if (!(maxBytes > 0)) throw new Error(`bytes budget must be positive, got ${maxBytes}`);
  }

  /** Bytes admitted and not yet released. */
  get inUse(): number {
    return this.used;
  }

  /** Items waiting to be admitted. */
  get queued(): number {
    return this.waiting.length - this.head;
  }

  /** Admits `bytes` now (true) or calls `admit` once they are admitted (false). */
  admit(bytes: number, admit: () => void): boolean {
    if (this.queued === 0 && this.fits(bytes)) {
      this.used += bytes;
      return true;
    }
    this.waiting.push({ bytes, admit });
    return false;
  }

  /** Gives back what an admitted item took; admits those waiting that now fit, in order. */
  release(bytes: number): void {
    this.used -= bytes;
    while (this.head < this.waiting.length) {
      const next = this.waiting[this.head]!;
      if (!this.fits(next.bytes)) break;
      this.waiting[this.head++] = undefined as never;
      this.used += next.bytes;
      next.admit();
    }
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }

  private fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.maxBytes;
  }
}
