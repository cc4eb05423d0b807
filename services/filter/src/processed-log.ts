import { DeliverPolicy, processedMaxAgeNs, type Bus, type LeanPublisher, type Topology } from '@inkstream/bus';
import { MarkTable } from './mark-table.js';

/**
 * The events the filter processed, per ingest partition: what lets it skip an event ingest
 * stored twice in different segments (an SDK retrying a subset of a request, the same events in
 * another request: other segment message ids, so the ingest stream keeps both) and the records
 * of a redelivered segment that were already done.
 *
 * A record's mark (processed-keys.ts `processedMark`, a 16-character hash of its event key) is
 * **pending** from the moment the lane's profile is staged until that write is stored and the
 * mark is written to the partition's subject of the processed stream (one message per flush,
 * every few ms, for all the lanes of the partition that finished meanwhile), then **done**. A
 * record whose mark is done is a duplicate; one whose mark is pending is a duplicate whose
 * message must wait for that write (if the write fails, the mark is forgotten, and the message
 * is given back and comes back to a record not processed). Marks are written only after the
 * profile write covering them is stored: a mark in the stream means the record's work is stored.
 *
 * The replica that takes a partition over reads the marks of the dedup window back from the
 * stream before it consumes the partition (`load`), so the memory of processed events survives
 * crashes and hand-overs. Marks are kept for the ingest dedup window (by the time they were
 * written), at most `maxPerPartition` per partition (in a MarkTable: about 24 bytes a mark; a
 * window read back is trimmed as it is read), the oldest forgotten first: a partition
 * that processes more events than that within the window can see a regrouped retry of an older
 * event processed again (its payloads keep their message ids).
 *
 * Before this, the marks were kept in each user's profile (500 per user), which made every
 * profile write carry them (a few KiB for an active user) and every record rewrite the profile.
 * Profiles written so that (`seen`) are still honoured when read (filter-worker.ts).
 */

/** First line of every message of the processed stream; the marks follow one per line. */
const FORMAT = 'inkstream-processed v1';
/** Marks per message at most (17 bytes each: far below any server's max_payload). */
const MAX_MARKS_PER_MESSAGE = 20_000;
/** About 24 bytes a mark (mark-table.ts): ~3 MB per partition. */
export const DEFAULT_MAX_MARKS_PER_PARTITION = 125_000;

export interface ProcessedLogOptions {
  bus: Pick<Bus, 'js' | 'jsm'>;
  topology: Topology;
  publisher: LeanPublisher;
  /** The ingest dedup window, ms (read when used: the worker learns it at start). */
  windowMs: () => number;
  maxPerPartition?: number;
  /** How long marks wait to be written with others. Default 2 ms. */
  flushDelayMs?: number;
  onUnreadable?: (partition: number, seq: number) => void;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The marks of one partition. */
class PartitionMarks {
  /** Done: mark → when it was written (epoch seconds), oldest first. */
  readonly done = new MarkTable();
  /** Pending: mark → settles once it is done (rejects when its write failed). */
  readonly pending = new Map<string, Promise<void>>();
  /** Marks for the next write, and who waits for it. */
  buffer: string[] = [];
  waiters: Waiter[] = [];
  timer: NodeJS.Timeout | undefined;
  /** Writes not answered yet. */
  readonly writing = new Set<Promise<void>>();
}

export class ProcessedLog {
  private readonly partitions = new Map<number, PartitionMarks>();
  private readonly maxPerPartition: number;
  private readonly flushDelayMs: number;

  constructor(private readonly options: ProcessedLogOptions) {
    this.maxPerPartition = options.maxPerPartition ?? DEFAULT_MAX_MARKS_PER_PARTITION;
    this.flushDelayMs = options.flushDelayMs ?? 2;
  }

  private of(partition: number): PartitionMarks {
    let p = this.partitions.get(partition);
    if (!p) this.partitions.set(partition, (p = new PartitionMarks()));
    return p;
  }

  /** Marks held for a partition (done and pending), for tests and gauges. */
  size(partition: number): number {
    const p = this.partitions.get(partition);
    return p === undefined ? 0 : p.done.size + p.pending.size;
  }

  /**
   * Whether the event of `mark` was processed on this partition within the window: `true` when
   * its work is stored, a promise when it is still being stored (the duplicate's message waits
   * for it), undefined when not.
   */
  check(partition: number, mark: string, nowMs: number): true | Promise<void> | undefined {
    const p = this.partitions.get(partition);
    if (p === undefined) return undefined;
    const at = p.done.writtenAt(mark);
    if (at >= 0 && nowMs - at * 1000 <= this.options.windowMs()) return true;
    return p.pending.size === 0 ? undefined : p.pending.get(mark);
  }

  /**
   * The records of `marks` were processed and their profile writes staged: they are pending
   * until `done` settles (the caller writes them with `write` once the writes are stored).
   */
  stage(partition: number, marks: readonly string[], done: Promise<void>): void {
    const p = this.of(partition);
    for (const mark of marks) p.pending.set(mark, done);
  }

  /**
   * Writes the marks of records whose work is stored to the partition's processed subject (with
   * the partition's next flush); they are done once written. Rejects when the write failed.
   */
  async write(partition: number, marks: readonly string[]): Promise<void> {
    if (marks.length === 0) return;
    const p = this.of(partition);
    await this.append(p, partition, marks);
    const now = Math.floor(Date.now() / 1000);
    for (const mark of marks) {
      p.pending.delete(mark);
      p.done.add(mark, now);
    }
    this.trim(p, now);
  }

  /** Marks whose work failed (`done` rejected): no longer pending, so their records are processed when they come back. */
  unstage(partition: number, marks: readonly string[], done: Promise<void>): void {
    const p = this.partitions.get(partition);
    if (!p) return;
    for (const mark of marks) if (p.pending.get(mark) === done) p.pending.delete(mark);
  }

  /** Writes `marks` with the partition's next flush; resolves once they are stored. */
  private append(p: PartitionMarks, partition: number, marks: readonly string[]): Promise<void> {
    for (const mark of marks) p.buffer.push(mark);
    const written = new Promise<void>((resolve, reject) => p.waiters.push({ resolve, reject }));
    if (p.buffer.length >= MAX_MARKS_PER_MESSAGE) this.flush(partition, p);
    else p.timer ??= setTimeout(() => this.flush(partition, p), this.flushDelayMs);
    return written;
  }

  private flush(partition: number, p: PartitionMarks): void {
    if (p.timer) clearTimeout(p.timer);
    p.timer = undefined;
    if (p.buffer.length === 0) return;
    const marks = p.buffer;
    const waiters = p.waiters;
    p.buffer = [];
    p.waiters = [];
    const data = new TextEncoder().encode(`${FORMAT}\n${marks.join('\n')}`);
    const write = this.options.publisher.publish(this.options.topology.subjects.processed(partition), data).then(
      () => {
        for (const w of waiters) w.resolve();
      },
      (err: unknown) => {
        for (const w of waiters) w.reject(err);
      },
    );
    p.writing.add(write);
    void write.finally(() => p.writing.delete(write));
  }

  /** Forgets the oldest marks: those past the window, then any over the bound. */
  private trim(p: PartitionMarks, nowSec: number): void {
    p.done.trim(nowSec - this.options.windowMs() / 1000, this.maxPerPartition);
  }

  /**
   * Keeps the processed stream's marks for the window and ten minutes: raises its max_age when
   * the ingest window is longer than it was declared for (never lowers it). Answers the new
   * max_age in ms when it was raised.
   */
  async keepForWindow(): Promise<number | undefined> {
    const { bus, topology } = this.options;
    const name = topology.streams.processed.name;
    const needed = processedMaxAgeNs(this.options.windowMs() * 1_000_000);
    const { config } = await bus.jsm.streams.info(name);
    if (config.max_age === 0 || config.max_age >= needed) return undefined;
    await bus.jsm.streams.update(name, { max_age: needed });
    return needed / 1_000_000;
  }

  /**
   * Reads the partition's marks of the window back from the stream (what another replica, or
   * this one before, processed), before the partition's records are worked.
   */
  async load(partition: number): Promise<number> {
    const { bus, topology } = this.options;
    const p = this.of(partition);
    const stream = topology.streams.processed.name;
    const subject = topology.subjects.processed(partition);
    const startMs = Date.now() - this.options.windowMs();
    const nowSec = Math.floor(Date.now() / 1000);
    const consumer = await bus.js.consumers.get(stream, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(startMs).toISOString(),
      // ms; the server removes the ephemeral consumer this long after the read.
      inactive_threshold: 30_000,
    });
    let left = (await consumer.info(true)).num_pending;
    let loaded = 0;
    const decoder = new TextDecoder();
    while (left > 0) {
      const messages = await consumer.fetch({ max_messages: Math.min(left, 1000), expires: 10_000 });
      let got = 0;
      for await (const msg of messages) {
        got++;
        left--;
        const lines = decoder.decode(msg.data).split('\n');
        if (lines[0] !== FORMAT) {
          this.options.onUnreadable?.(partition, msg.seq);
        } else {
          const at = Math.floor(msg.info.timestampNanos / 1e9);
          for (let i = 1; i < lines.length; i++) {
            const mark = lines[i]!;
            if (mark !== '' && p.done.add(mark, at)) loaded++;
          }
          // Trimmed as it reads: a window of more marks than the bound never sits in memory whole.
          this.trim(p, nowSec);
        }
        if (left <= 0 || msg.info.pending === 0) {
          left = 0;
          break;
        }
      }
      if (got === 0) break;
    }
    this.trim(p, Math.floor(Date.now() / 1000));
    return loaded;
  }

  /**
   * Waits for the partition's marks to be written: those staged (at most `timeoutMs`: their
   * writes are on their way once the partition's profile writes are settled) and those in flight.
   */
  async drain(partition: number, timeoutMs = 10_000): Promise<void> {
    const p = this.partitions.get(partition);
    if (!p) return;
    if (p.pending.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled(new Set(p.pending.values())),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
    }
    if (p.buffer.length > 0) this.flush(partition, p);
    await Promise.allSettled([...p.writing]);
  }

  /** Forgets a partition given up (its next owner reads its marks from the stream). */
  forget(partition: number): void {
    const p = this.partitions.get(partition);
    // Marks still buffered are written all the same (their waiters are answered).
    if (p) this.flush(partition, p);
    this.partitions.delete(partition);
  }
}
