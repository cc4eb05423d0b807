import type { DeliveryItem } from '@inkstream/contracts';
import { ENVELOPE_BYTES } from '@inkstream/movable-ink';
import type { Transmission } from './transmitter.js';

export interface BatchLimits {
  batchSize: number;
  /** Requests stay strictly under this many serialized bytes. */
  maxRequestBytes: number;
  lingerMs: number;
}

type Pending = { job: DeliveryItem; resolve: (t: Transmission) => void; reject: (e: unknown) => void };

/**
 * Collects payloads of one sync into `{"events":[…]}` requests of up to `batchSize` payloads
 * and strictly under `maxRequestBytes`, flushed when full or `lingerMs` after the first one.
 *
 * Linear: each payload's JSON is taken as it came (`payloadJson`: the request body's part and
 * its size), and results are matched to payloads by position.
 */
export class Batcher {
  private pending: Pending[] = [];
  private bytes = ENVELOPE_BYTES;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: () => BatchLimits,
    /** Sends one request of these payloads; resolves one Transmission per payload, in order. */
    private readonly flushBatch: (jobs: DeliveryItem[]) => Promise<Transmission[]>,
  ) {}

  submit(job: DeliveryItem): Promise<Transmission> {
    const bytes = Buffer.byteLength(job.payloadJson);
    return new Promise<Transmission>((resolve, reject) => {
      const { batchSize, maxRequestBytes, lingerMs } = this.limits();
      if (this.pending.length > 0 && this.bytes + 1 + bytes >= maxRequestBytes) this.flush();
      this.pending.push({ job, resolve, reject });
      this.bytes += (this.pending.length > 1 ? 1 : 0) + bytes;
      if (this.pending.length >= batchSize) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), lingerMs);
    });
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.bytes = ENVELOPE_BYTES;
    const jobs = new Array<DeliveryItem>(batch.length);
    for (let i = 0; i < batch.length; i++) jobs[i] = batch[i]!.job;
    this.flushBatch(jobs).then(
      (results) => settleInOrder(batch, results),
      (err) => {
        for (const p of batch) p.reject(err);
      },
    );
  }
}

/** Resolves each payload with its result: by position, or (results reordered) by job. */
function settleInOrder(batch: Pending[], results: Transmission[]): void {
  let inOrder = results.length === batch.length;
  for (let i = 0; inOrder && i < batch.length; i++) inOrder = results[i]!.job === batch[i]!.job;
  if (inOrder) {
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
    return;
  }
  const byJob = new Map<DeliveryItem, Transmission>();
  for (const t of results) byJob.set(t.job, t);
  for (const p of batch) {
    const t = byJob.get(p.job);
    // A payload without a result must not wait forever: its handler treats this as unexpected.
    if (t) p.resolve(t);
    else p.reject(new Error(`no result for payload ${p.job.messageId} in its batch`));
  }
}
