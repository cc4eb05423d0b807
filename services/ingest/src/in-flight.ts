/**
 * How much ingest holds at once: requests being read, validated or stored, and the body bytes
 * they keep in memory (as received, plus the decoded copy of a compressed body). A request
 * that does not fit is refused (503) instead of queued, so a flood of requests costs at most
 * the configured bound, however many clients send at once.
 */
export class InFlightBudget {
  requests = 0;
  bytes = 0;
  /** The most held at once since start: what the bound is for (metrics, tests). */
  peakRequests = 0;
  peakBytes = 0;

  constructor(
    readonly maxRequests: number,
    readonly maxBytes: number,
  ) {}

  /** A ticket for one more request, or undefined when `maxRequests` are in flight already. */
  admit(): InFlightTicket | undefined {
    if (this.requests >= this.maxRequests) return undefined;
    this.requests++;
    this.peakRequests = Math.max(this.peakRequests, this.requests);
    return new InFlightTicket(this);
  }

  /** @internal */ take(bytes: number): boolean {
    if (this.bytes + bytes > this.maxBytes) return false;
    this.bytes += bytes;
    this.peakBytes = Math.max(this.peakBytes, this.bytes);
    return true;
  }

  /** @internal */ giveBytes(bytes: number): void {
    this.bytes -= bytes;
  }

  /** @internal */ give(bytes: number): void {
    this.requests--;
    this.bytes -= bytes;
  }
}

/**
 * One admitted request. Its share of the budget is given back once its response is over (sent,
 * or the client went away) and no work that holds its data is still running: a client that
 * disconnects while its events are being published does not free memory that is still in use.
 */
export class InFlightTicket {
  private bytes = 0;
  private holds = 1; // the response
  private released = false;

  constructor(private readonly budget: InFlightBudget) {}

  /** Counts `bytes` more against the budget; false (and nothing counted) when they do not fit. */
  reserve(bytes: number): boolean {
    if (this.released || bytes <= 0) return !this.released;
    if (!this.budget.take(bytes)) return false;
    this.bytes += bytes;
    return true;
  }

  /** Gives back part of what was reserved (a reservation for the worst case, once the real size is known). */
  unreserve(bytes: number): void {
    const given = Math.min(Math.max(bytes, 0), this.bytes);
    if (this.released || given === 0) return;
    this.bytes -= given;
    this.budget.giveBytes(given);
  }

  /** Work that keeps the request's data (validating, publishing) starts. */
  holdWork(): void {
    if (!this.released) this.holds++;
  }

  workDone(): void {
    this.drop();
  }

  responseClosed(): void {
    this.drop();
  }

  get reservedBytes(): number {
    return this.bytes;
  }

  private drop(): void {
    if (this.released || --this.holds > 0) return;
    this.released = true;
    this.budget.give(this.bytes);
  }
}
