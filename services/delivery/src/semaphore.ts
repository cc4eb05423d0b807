const RESOLVED = Promise.resolve();

/** Limits how many requests a sync has in flight; the limit can change at any time. */
export class Semaphore {
  private active = 0;
  /** Waiters in arrival order from `head` on (a queue without Array.shift's copying). */
  private waiters: Array<() => void> = [];
  private head = 0;

  constructor(private limit: number) {}

  get inFlight(): number {
    return this.active;
  }

  get capacity(): number {
    return this.limit;
  }

  setLimit(limit: number): void {
    this.limit = Math.max(1, limit);
    this.wake();
  }

  /** Takes a permit if one is free now (never ahead of a waiter: there is none while one is free). */
  tryAcquire(): boolean {
    if (this.active >= this.limit) return false;
    this.active++;
    return true;
  }

  /** Resolves with a permit: at once when one is free, else in arrival order as they are released. */
  acquire(): Promise<void> {
    if (this.tryAcquire()) return RESOLVED;
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    this.active--;
    this.wake();
  }

  private wake(): void {
    while (this.active < this.limit && this.head < this.waiters.length) {
      this.active++;
      const next = this.waiters[this.head]!;
      this.waiters[this.head++] = undefined as never;
      if (this.head === this.waiters.length) {
        this.waiters = [];
        this.head = 0;
      } else if (this.head >= 1024 && this.head * 2 >= this.waiters.length) {
        this.waiters = this.waiters.slice(this.head);
        this.head = 0;
      }
      next();
    }
  }
}
