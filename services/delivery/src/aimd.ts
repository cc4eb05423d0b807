/**
 * Additive-increase / multiplicative-decrease concurrency for one sync: halve on 429 (never
 * below 1) at most once per round trip, add one after each healthy interval without
 * throttling, never above the maximum.
 *
 * "Once per round trip": a 429 to a request sent before the last decrease says nothing new —
 * it was already in flight at the old concurrency — so 16 concurrent 429s halve once, not to 1.
 */
export class AimdConcurrency {
  private current: number;
  private lastChange = 0;
  private lastDecrease = Number.NEGATIVE_INFINITY;

  constructor(
    private max: number,
    private readonly healthyIntervalMs = 1_000,
  ) {
    this.current = max;
  }

  get limit(): number {
    return this.current;
  }

  setMax(max: number): void {
    this.max = Math.max(1, max);
    this.current = Math.min(this.current, this.max);
  }

  /** A 429 arrived at `now` for a request sent at `sentAt`. */
  onThrottled(now: number, sentAt: number = now): number {
    if (sentAt < this.lastDecrease) return this.current;
    this.current = Math.max(1, Math.floor(this.current / 2));
    this.lastChange = now;
    this.lastDecrease = now;
    return this.current;
  }

  onSuccess(now: number): number {
    if (this.current < this.max && now - this.lastChange >= this.healthyIntervalMs) {
      this.current++;
      this.lastChange = now;
    }
    return this.current;
  }
}
