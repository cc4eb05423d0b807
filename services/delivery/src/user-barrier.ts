/**
 * The per-user barrier of `preserveUserOrder`: once a user's payload waits for a retry, the
 * user's later payloads may not be sent before it; they are put back to come after it.
 */
export class UserBarrier {
  private readonly until = new Map<string, number>();

  /** Epoch ms before which the user's later payloads must wait, if any. */
  blockedUntil(userKey: string, now: number): number | undefined {
    const t = this.until.get(userKey);
    if (t === undefined) return undefined;
    if (t <= now) {
      this.until.delete(userKey);
      return undefined;
    }
    return t;
  }

  block(userKey: string, until: number): void {
    this.until.set(userKey, Math.max(until, this.until.get(userKey) ?? 0));
  }

  clear(userKey: string): void {
    this.until.delete(userKey);
  }

  get size(): number {
    return this.until.size;
  }
}
