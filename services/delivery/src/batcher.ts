import type { DeliveryJob } from '@inkstream/contracts';
import type { Transmission } from './transmitter.js';

const ENVELOPE_BYTES = '{"events":[]}'.length;

export interface BatchLimits {
  batchSize: number;
  /** Requests stay strictly under this many serialized bytes. */
  maxRequestBytes: number;
  lingerMs: number;
}

type Pending = { job: DeliveryJob; bytes: number; resolve: (t: Transmission) => void; reject: (e: unknown) => void };

/**
 * Collects payloads of one sync into `{"events":[…]}` requests of up to `batchSize` payloads
 * and strictly under `maxRequestBytes`, flushed when full or `lingerMs` after the first one.
 */
export class Batcher {
  private pending: Pending[] = [];
  private bytes = ENVELOPE_BYTES;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: () => BatchLimits,
    private readonly flushBatch: (jobs: DeliveryJob[]) => Promise<Transmission[]>,
  ) {}

  submit(job: DeliveryJob): Promise<Transmission> {
    const bytes = Buffer.byteLength(JSON.stringify(job.payload));
    return new Promise<Transmission>((resolve, reject) => {
      const { batchSize, maxRequestBytes, lingerMs } = this.limits();
      const separator = this.pending.length > 0 ? 1 : 0;
      if (this.pending.length > 0 && this.bytes + separator + bytes >= maxRequestBytes) this.flush();
      this.pending.push({ job, bytes, resolve, reject });
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
    this.flushBatch(batch.map((p) => p.job)).then(
      (results) => results.forEach((t) => batch.find((p) => p.job === t.job)?.resolve(t)),
      (err) => batch.forEach((p) => p.reject(err)),
    );
  }
}
