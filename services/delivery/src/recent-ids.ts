/**
 * Payload ids delivered recently, in memory: a redelivered message (its ack lost, a segment
 * given back half done) skips what this process already delivered. Two generations of at most
 * `maxPerGeneration` ids, the older dropped when the newer is full or `generationMs` old, so an
 * id is remembered for between one and two generations. Lost with the process.
 */
export class RecentIds {
  private current = new Set<string>();
  private previous = new Set<string>();
  private since: number;

  constructor(
    private readonly generationMs = 5 * 60_000,
    private readonly maxPerGeneration = 50_000,
    private readonly now: () => number = Date.now,
  ) {
    this.since = now();
  }

  add(id: string): void {
    if (this.current.size >= this.maxPerGeneration || this.now() - this.since >= this.generationMs) this.rotate();
    this.current.add(id);
  }

  has(id: string): boolean {
    return this.current.has(id) || this.previous.has(id);
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }

  private rotate(): void {
    this.previous = this.current;
    this.current = new Set();
    this.since = this.now();
  }
}
