import type { DeliveryItem } from '@inkstream/contracts';
import { ENVELOPE_BYTES } from '@inkstream/movable-ink';
import type { Transmission } from './transmitter.js';

export interface BatchLimits {
  batchSize: number;
  /** Requests stay strictly under this many serialized bytes. */
  maxRequestBytes: number;
  lingerMs: number;
}

/**
 * A payload's place in a request: `(await batch)[index]` is its result, undefined when the
 * request came back without one (its caller must not wait for it forever: see `submit`).
 */
export interface BatchSeat {
  batch: Promise<ReadonlyArray<Transmission | undefined>>;
  index: number;
}

/**
 * Collects payloads of one sync into `{"events":[…]}` requests of up to `batchSize` payloads
 * and strictly under `maxRequestBytes`, flushed when full or `lingerMs` after the first one.
 *
 * Linear: each payload's JSON is taken as it came (`payloadJson`: the request body's part and
 * its size), and results are matched to payloads by position. A request's payloads share one
 * promise of their results (not one promise each): a payload costs the batcher a seat.
 */
export class Batcher {
  private jobs: DeliveryItem[] = [];
  private bytes = ENVELOPE_BYTES;
  private timer: NodeJS.Timeout | undefined;
  /** The results of the request being filled, settled when it is answered. */
  private results: Promise<ReadonlyArray<Transmission | undefined>> | undefined;
  private settle: { resolve: (results: ReadonlyArray<Transmission | undefined>) => void; reject: (err: unknown) => void } | undefined;

  constructor(
    private readonly limits: () => BatchLimits,
    /** Sends one request of these payloads; resolves one Transmission per payload, in order. */
    private readonly flushBatch: (jobs: DeliveryItem[]) => Promise<Transmission[]>,
  ) {}

  /** A payload's result (rejected when its request came back without one). */
  async submit(job: DeliveryItem): Promise<Transmission> {
    const seat = this.join(job);
    return resultOf(await seat.batch, seat.index, job);
  }

  /** Adds a payload to the request being filled (sent first when it would not fit). */
  join(job: DeliveryItem): BatchSeat {
    const bytes = Buffer.byteLength(job.payloadJson);
    const { batchSize, maxRequestBytes, lingerMs } = this.limits();
    if (this.jobs.length > 0 && this.bytes + 1 + bytes >= maxRequestBytes) this.flush();
    if (this.results === undefined) {
      this.results = new Promise((resolve, reject) => {
        this.settle = { resolve, reject };
      });
    }
    const seat: BatchSeat = { batch: this.results, index: this.jobs.length };
    this.jobs.push(job);
    this.bytes += (this.jobs.length > 1 ? 1 : 0) + bytes;
    if (this.jobs.length >= batchSize) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), lingerMs);
    return seat;
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const jobs = this.jobs;
    const settle = this.settle;
    if (jobs.length === 0 || !settle) return;
    this.jobs = [];
    this.bytes = ENVELOPE_BYTES;
    this.results = this.settle = undefined;
    this.flushBatch(jobs).then(
      (results) => settle.resolve(inOrder(jobs, results)),
      (err) => settle.reject(err),
    );
  }
}

/** A payload's result, or an error: a payload without a result must not wait forever (its handler treats this as unexpected). */
export function resultOf(results: ReadonlyArray<Transmission | undefined>, index: number, job: DeliveryItem): Transmission {
  const t = results[index];
  if (!t) throw new Error(`no result for payload ${job.messageId} in its batch`);
  return t;
}

/** The results by the position of their payloads: as they came, or (reordered) matched by job. */
function inOrder(jobs: DeliveryItem[], results: Transmission[]): ReadonlyArray<Transmission | undefined> {
  let ordered = results.length === jobs.length;
  for (let i = 0; ordered && i < jobs.length; i++) ordered = results[i]!.job === jobs[i];
  if (ordered) return results;
  const byJob = new Map<DeliveryItem, Transmission>();
  for (const t of results) byJob.set(t.job, t);
  return jobs.map((job) => byJob.get(job));
}
