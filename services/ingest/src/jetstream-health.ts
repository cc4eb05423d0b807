/**
 * Whether ingest should try JetStream at all. After a publish fails or is not acknowledged
 * within the publish timeout, JetStream is "slow" for a cool-down: requests are answered 503
 * at once (with Retry-After) instead of each one waiting for its own timeout and holding its
 * events in memory meanwhile. After the cool-down requests are tried again; the next failure
 * starts another cool-down. Time is passed in, so the policy is a table of cases.
 */
export class JetStreamHealth {
  private slowUntil = 0;

  constructor(readonly cooldownMs: number) {}

  /** Milliseconds until JetStream is tried again; 0 when requests may publish now. */
  waitMs(now: number): number {
    return Math.max(0, this.slowUntil - now);
  }

  publishFailed(now: number): void {
    this.slowUntil = Math.max(this.slowUntil, now + this.cooldownMs);
  }

  /** A publish was acknowledged: JetStream answers again. */
  publishSucceeded(): void {
    this.slowUntil = 0;
  }
}
