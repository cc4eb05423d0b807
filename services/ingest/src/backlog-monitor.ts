import { PARTITIONS, type JetStreamManager, type Topology } from '@inkstream/bus';
import type { Logger } from '@inkstream/service-kit';
import type { BacklogSnapshot } from './backlog-verdict.js';

/**
 * Reads the ingest stream's backlog from JetStream every `intervalMs`, in the background, so
 * that requests only ever look at the last snapshot: two API requests per interval however
 * many requests ingest serves (one consumer listing for the whole stream, one stream info).
 *
 * The backlog is what the filter's partition consumers have not finished
 * (`num_pending + num_ack_pending`); a partition whose consumer does not exist yet (no filter
 * has started) adds nothing, since there is no reader to be behind.
 */
export class BacklogMonitor {
  private last: BacklogSnapshot | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private readonly filterConsumers: ReadonlySet<string>;
  private failing = false;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly topology: Topology,
    private readonly intervalMs: number,
    private readonly logger: Pick<Logger, 'warn' | 'info'>,
  ) {
    this.filterConsumers = new Set(Array.from({ length: PARTITIONS }, (_, p) => topology.consumers.filter(p).durable_name));
  }

  get snapshot(): BacklogSnapshot | undefined {
    return this.last;
  }

  /** Reads once now, then every interval. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One read (shared when one is already under way). */
  refresh(): Promise<void> {
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async read(): Promise<void> {
    const stream = this.topology.streams.ingest.name;
    try {
      const [info, consumers] = await Promise.all([this.jsm.streams.info(stream), this.listFilterConsumers(stream)]);
      let messages = 0;
      for (const c of consumers) messages += c.num_pending + c.num_ack_pending;
      this.last = { messages, streamBytes: info.state.bytes, readAt: Date.now() };
      if (this.failing) this.logger.info({ stream }, 'ingest backlog readable again');
      this.failing = false;
    } catch (err) {
      // The last snapshot ages out (backlogVerdict); publishing has its own guard.
      if (!this.failing) this.logger.warn({ stream, err: String(err) }, 'cannot read the ingest backlog from JetStream');
      this.failing = true;
    }
  }

  private async listFilterConsumers(stream: string) {
    const found = [];
    for await (const consumer of this.jsm.consumers.list(stream)) {
      if (this.filterConsumers.has(consumer.name)) found.push(consumer);
    }
    return found;
  }
}
