import type { Logger } from '@inkstream/service-kit';
import { statusClass } from './metrics.js';

/** How often a sync's summary line is written (when anything happened). */
export const SUMMARY_INTERVAL_MS = 10_000;
/** Latencies kept per interval for the median (a uniform sample of them past this many). */
const SAMPLE_SIZE = 512;

export type SettledAs = 'delivered' | 'retry_scheduled' | 'throttled' | 'discarded' | 'dead_lettered';

/**
 * A sample of numbers of one interval (reservoir sampling: every value has the same chance to be
 * kept), for a median that costs neither memory nor time per value.
 */
class Sample {
  private values: number[] = [];
  private seen = 0;

  add(value: number): void {
    this.seen++;
    if (this.values.length < SAMPLE_SIZE) this.values.push(value);
    else {
      const i = Math.floor(Math.random() * this.seen);
      if (i < SAMPLE_SIZE) this.values[i] = value;
    }
  }

  /** The median of what was added since the last call, then starts over; undefined when empty. */
  takeMedian(): number | undefined {
    const values = this.values;
    this.values = [];
    this.seen = 0;
    if (values.length === 0) return undefined;
    values.sort((a, b) => a - b);
    return values[Math.floor(values.length / 2)];
  }
}

/**
 * What a sync's delivery did, written at `info` as one line per interval instead of one line per
 * attempt (those are at `debug`): requests and their status classes, payloads by how they were
 * settled, the medians of the request time and of ingest → delivered, the last error seen.
 * Nothing happened in an interval: no line.
 */
export class DeliverySummary {
  private requests = 0;
  private attempts = 0;
  private readonly statuses: Record<string, number> = {};
  private readonly settled: Record<SettledAs, number> = { delivered: 0, retry_scheduled: 0, throttled: 0, discarded: 0, dead_lettered: 0 };
  private readonly requestMs = new Sample();
  private readonly deliveredMs = new Sample();
  private lastError: string | undefined;
  private since: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number = SUMMARY_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.since = now();
  }

  start(): void {
    this.since = this.now();
    this.timer ??= setInterval(() => this.write(), this.intervalMs);
    this.timer.unref();
  }

  /** Writes what is left and stops. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.write();
  }

  /** One HTTP request answered (or failed), `ms` after it was sent. */
  request(status: number | undefined, ms: number, error: string | undefined): void {
    this.requests++;
    const cls = statusClass(status);
    this.statuses[cls] = (this.statuses[cls] ?? 0) + 1;
    this.requestMs.add(ms);
    if (error !== undefined) this.lastError = error;
  }

  /** One try of one payload (a batch request is a try of each of its payloads). */
  attempt(): void {
    this.attempts++;
  }

  /** A payload settled (or scheduled for a retry); `deliveredMs`: from ingest to its 2xx. */
  payload(as: SettledAs, deliveredMs?: number): void {
    this.settled[as]++;
    if (deliveredMs !== undefined) this.deliveredMs.add(deliveredMs);
  }

  /** Writes the interval's line, if anything happened, and starts the next interval. */
  write(): void {
    const now = this.now();
    const seconds = Math.max(0.001, (now - this.since) / 1000);
    this.since = now;
    const settled = { ...this.settled };
    const statuses = { ...this.statuses };
    const payloads = Object.values(settled).reduce((a, b) => a + b, 0);
    const requests = this.requests;
    const attempts = this.attempts;
    const p50RequestMs = this.requestMs.takeMedian();
    const p50DeliveredMs = this.deliveredMs.takeMedian();
    const lastError = this.lastError;
    this.requests = 0;
    this.attempts = 0;
    this.lastError = undefined;
    for (const key of Object.keys(this.statuses)) delete this.statuses[key];
    for (const key of Object.keys(this.settled) as SettledAs[]) this.settled[key] = 0;
    if (requests === 0 && payloads === 0) return;
    this.log.info(
      {
        seconds: Math.round(seconds * 10) / 10,
        requests,
        attempts,
        statuses,
        ...settled,
        perSecond: Math.round(settled.delivered / seconds),
        ...(p50RequestMs !== undefined ? { p50RequestMs } : {}),
        ...(p50DeliveredMs !== undefined ? { p50DeliveredMs } : {}),
        ...(lastError !== undefined ? { lastError } : {}),
      },
      'delivery summary',
    );
  }
}
