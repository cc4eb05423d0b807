import type { JetStreamManager } from '@nats-io/jetstream';

export interface ConsumerRef {
  stream: string;
  durable: string;
}

export interface ConsumerLagSample extends ConsumerRef {
  /** Messages the consumer has not been given yet (`num_pending`). */
  pending: number;
  /** Messages given out and not yet acknowledged (`num_ack_pending`). */
  ackPending: number;
}

/**
 * How far behind the consumers a replica works are, read from JetStream's consumer info. Reads
 * are shared and kept for `maxAgeMs`, so however often /metrics is scraped (several scrapers,
 * short intervals) JetStream answers at most one info request per consumer per interval.
 */
export class ConsumerLag {
  private last: { at: number; samples: ConsumerLagSample[] } | undefined;
  private reading: Promise<ConsumerLagSample[]> | undefined;

  constructor(
    private readonly jsm: JetStreamManager,
    /** The consumers this replica works now. */
    private readonly owned: () => readonly ConsumerRef[],
    private readonly maxAgeMs = 5_000,
  ) {}

  read(): Promise<ConsumerLagSample[]> {
    if (this.last && Date.now() - this.last.at < this.maxAgeMs) return Promise.resolve(this.last.samples);
    this.reading ??= this.fetch().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async fetch(): Promise<ConsumerLagSample[]> {
    const refs = this.owned();
    const results = await Promise.allSettled(refs.map((ref) => this.jsm.consumers.info(ref.stream, ref.durable)));
    const samples: ConsumerLagSample[] = [];
    results.forEach((result, i) => {
      // A consumer that vanished (sync deleted, lease just lost) simply has no sample.
      if (result.status === 'fulfilled') {
        samples.push({ ...refs[i]!, pending: result.value.num_pending, ackPending: result.value.num_ack_pending });
      }
    });
    this.last = { at: Date.now(), samples };
    return samples;
  }
}
