/**
 * Additive-increase / multiplicative-decrease concurrency for one sync: halve on 429 (never
 * below 1), add one after each healthy interval without throttling, never above the maximum.
 */
export class AimdConcurrency {
  private current: number;
  private lastChange = 0;

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

  onThrottled(now: number): number {
    this.current = Math.max(1, Math.floor(this.current / 2));
    this.lastChange = now;
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
