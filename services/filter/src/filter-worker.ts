import { recordsOfIngestMessage, type DeliveryOutcome, type IngestedRecord, type SyncSnapshot } from '@inkstream/contracts';
import {
  ACK_WAIT_MS,
  ConsumerRunner,
  KeyedLanes,
  LeanPublisher,
  LeaseManager,
  PARTITIONS,
  decodeJson,
  declareConsumer,
  partitionOf,
  sharedOutcomeSender,
  type Bus,
  type ConfigView,
  type JsMsg,
  type KV,
  type Topology,
} from '@inkstream/bus';
import type { Logger } from '@inkstream/service-kit';
import { activeTraceCarrier, explicitTraceFields, traceIdOf, tracePublishLinked, traceProcess, type Context, type TraceCarrier } from '@inkstream/telemetry';
import {
  compileFilters,
  forgetIdentifies,
  routeRecord,
  type CompiledSync,
  type Discard,
  type ProfileEntry,
  type RouteLimits,
  type RoutedPayload,
  type RoutedRecord,
} from '@inkstream/sync-routing';
import { deferred, type Deferred } from './deferred.js';
import { classifyPublishFailure, maxDeliveryBytes, maxJobBytes } from './bus-limits.js';
import { OutboxProgress, publishOutbox, type OutgoingSegment } from './delivery-outbox.js';
import type { FilterMetrics } from './metrics.js';
import type { ProfileRef, ProfileStore, SaveReceipt } from './profile-store.js';
import { positionedProfile, processedMark, RECORDS_PER_MESSAGE, wasProcessed } from './processed-keys.js';
import { ProcessedLog } from './processed-log.js';
import { StoredAcks } from './stored-acks.js';
import { DEFAULT_MAX_WORKING_BYTES, WorkGate } from './work-gate.js';

export interface FilterWorkerDeps {
  bus: Bus;
  topology: Topology;
  config: ConfigView;
  profiles: ProfileStore;
  metrics: FilterMetrics;
  logger: Logger;
  /**
   * Ingested events a partition consumer holds at once (received, not yet acked): set as the
   * consumer's max_ack_pending, so JetStream itself stops handing out more.
   */
  maxInFlight: number;
  /**
   * Bytes of ingest messages worked at once (parsed, routed, publishing), across this replica's
   * partitions; the rest of what the consumers hold waits unparsed (work-gate.ts). Default
   * DEFAULT_MAX_WORKING_BYTES.
   */
  maxWorkingBytes?: number;
  /** A message worked longer than this stops counting against maxWorkingBytes (work-gate.ts). Default 1 s. */
  workHoldLimitMs?: number;
  /** Bound on a stored profile (JSON bytes). Default DEFAULT_MAX_PROFILE_BYTES. */
  maxProfileBytes?: number;
  /** Bucket of partition leases shared by the filter replicas. */
  leases: KV;
  replicaId: string;
  /**
   * How long a processed event is remembered (processed-log.ts). Default: the
   * ingest stream's duplicate window (INGEST_DEDUP_WINDOW_SECONDS), read from the stream at start.
   */
  dedupWindowMs?: number;
  /** A delivery segment publish not acknowledged within this is retried. Default 5 s. */
  publishTimeoutMs?: number;
  /** Processed events remembered per partition (processed-log.ts, FILTER_PROCESSED_PER_PARTITION). Default 125,000. */
  maxProcessedPerPartition?: number;
}

/** One partition worked by this replica; `stopping` once its lease is being given up. */
interface PartitionWork {
  partition: number;
  runner: ConsumerRunner;
  durable: string;
  stopping: boolean;
  /**
   * Users one of whose records was given back (a step still failing while the partition is
   * given up, or an unexpected error), with that record's position (stream sequence of its
   * message × RECORDS_PER_MESSAGE + its index in the segment): the user's later records are given
   * back too until it has been processed, so none passes it.
   */
  held: Map<string, number>;
  /** Records processed whose profile write is not stored yet: acked once it is. */
  acks: StoredAcks;
}

/** One ingest message being worked: acked when every record is done, else given back whole. */
interface SegmentWork {
  msg: JsMsg;
  /** A record of it was not processed (held back or failed): the message is naked, not acked. */
  giveBack: boolean;
  /** The profile writes its records wait for: the message is acked once all are stored. */
  stored: Array<Promise<void>>;
  outbox: MessageOutbox;
  /** The lanes saved: the marks of their records and their profile write (processed-log.ts). */
  saves: Array<{ marks: string[]; stored: Promise<void> }> | undefined;
  /** Settles once the marks of `saves` are written (or failed): what duplicates of them wait for. */
  processed: Deferred | undefined;
}

/**
 * The delivery outbox of one ingest message: each of its lanes (one per user, in order of the
 * user's first record in the message) hands over the payloads it routed; once all have, they are
 * published as delivery segments (delivery-outbox.ts), and the lanes save their profiles.
 */
interface MessageOutbox {
  projectId: string;
  receivedAt: number;
  /** The message's trace context (its processing span), carried by every payload head. */
  trace: TraceCarrier | undefined;
  /** That context, for the publishes, discard outcomes and log lines of the message's lanes. */
  context: Context;
  /** Payloads per lane, index for index with the lanes. */
  lanes: RoutedPayload[][];
  /** Lanes that have not handed over their payloads yet. */
  remaining: number;
  progress: OutboxProgress;
  /** Settles once every payload is stored (or refused for its size), or the publish is given up. */
  published: Promise<OutboxProgress>;
  settle: (outcome: { ok: true } | { ok: false; err: unknown }) => void;
}

/** One user's records of one message as they are routed and saved (processLane, onMessage). */
interface LaneRoute {
  msg: JsMsg;
  entries: ReadonlyArray<{ record: IngestedRecord; position: number }>;
  /** Index of the lane in its message's outbox. */
  laneIndex: number;
  work: PartitionWork;
  /** The lane's key (project and user). */
  lane: string;
  segment: SegmentWork;
  ref: ProfileRef;
  /** When the lane started (processed-keys times). */
  now: number;
  /** Position the user is held from, read as the lane starts; undefined once its record is reached. */
  heldAt: number | undefined;
  /** The held record is among this lane's: the user is released once the lane is done. */
  reachedHeld: boolean;
  /** Position of the first record not done yet (what the user is held from, should the lane fail). */
  pending: number;
  payloads: RoutedPayload[];
  /** Processed marks of the records routed. */
  marks: string[];
  /** The profile the lane started from (positioned), before its first routed record, and as of its last one (without processed keys). */
  before: ProfileEntry | undefined;
  initial: ProfileEntry | undefined;
  current: ProfileEntry | undefined;
  /** JSON of `current` when routing gave it (or it did not change since). */
  currentJson: string | undefined;
  /** A routed record changed the profile: it is saved (otherwise nothing is written). */
  changed: boolean;
  /** Records routed and not counted yet, all of kind `countKind` (counted once per lane, or when the kind changes). */
  countKind: IngestedRecord['kind'];
  counted: number;
}


/** A W3C tracestate longer than this is left out of the payload heads (the traceparent still joins the trace). */
const MAX_HEAD_TRACESTATE_CHARS = 512;

/**
 * The trace context a segment's payload heads carry: its publish span's (from the publish
 * headers) when that span is sampled, so delivery's spans continue under it; otherwise the
 * message's `process` span's (`fallback`, same trace; no second encoding of the segment).
 */
function sampledHeadTrace(headers: { get(key: string): string } | undefined, fallback: TraceCarrier | undefined): TraceCarrier | undefined {
  const traceparent = headers?.get('traceparent');
  if (!traceparent || !traceparent.endsWith('-01')) return fallback;
  const tracestate = headers!.get('tracestate');
  return tracestate && tracestate.length <= MAX_HEAD_TRACESTATE_CHARS ? { traceparent, tracestate } : { traceparent };
}

type Step = 'load' | 'publish' | 'save';

const NOTHING = (): void => undefined;
/** A message worked longer than this (its user stuck behind a failing step) stops counting at the gate. */
const WORK_HOLD_LIMIT_MS = 1_000;
/** The processed keys a profile is saved with since they moved to the processed stream: none. */
const NO_MARKS: Record<string, number> = Object.freeze(Object.create(null) as Record<string, number>);

/** Whether a profile holds processed keys (written by a version that kept them there). */
function hasMarks(seen: Record<string, number> | undefined): seen is Record<string, number> {
  if (seen === undefined || seen === NO_MARKS) return false;
  for (const _ in seen) return true;
  return false;
}
const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Delay before JetStream hands back a record left unprocessed. The records of one user are
 * naked in stream order with the same delay, so they come back in that order.
 */
const HELD_REDELIVERY_DELAY_MS = 5_000;

/** Thrown out of a step retry when the partition is being given up: the message stays unacked. */
class PartitionStopping extends Error {
  constructor() {
    super('partition stopping');
  }
}

/**
 * Consumes the ingest partitions, keeps user profiles and publishes the payloads of every
 * active sync to the delivery stream, as v2 delivery segments: one message per (sync, partition)
 * per ingest message (chunked under max_payload). An ingest message is acked only after all its
 * payloads and the profile writes that cover it are stored, so a crash repeats work
 * (deduplicated by message id) and never loses it. Each ingest message is processed in a span of
 * the trace its ingest request started; each payload head carries that trace on to delivery, and
 * each segment publish is one PRODUCER span.
 */
export class FilterWorker {
  private readonly compiled = new Map<string, CompiledSync>();
  private readonly runners = new Map<string, PartitionWork>();
  private leaseManager: LeaseManager | undefined;
  private readonly lanes = new KeyedLanes();
  /** Delivery segments: plain publishes with a shared reply inbox. */
  private readonly publisher: LeanPublisher;
  private dedupWindowMs: number;
  /** The events processed per partition (the dedup memory), written to the processed stream. */
  private readonly processed: ProcessedLog;
  /** Active compiled syncs per project, rebuilt after any config change (read for every record). */
  private readonly activeByProject = new Map<string, CompiledSync[]>();
  /** Route limits, rebuilt only when the server's max_payload changes. */
  private limits: { maxPayload: number | undefined; limits: RouteLimits } | undefined;
  /**
   * Counter children by label values. prom-client hashes a child's labels on every `inc` all the
   * same, so records are counted once per lane and payloads once per segment and type (`inc(n)`).
   */
  private readonly recordCounters = new Map<string, { inc(n?: number): void }>();
  private readonly queuedCounters = new Map<string, { inc(n?: number): void }>();
  /** Bounds the bytes of ingest messages worked at once, across partitions (work-gate.ts). */
  private readonly gate: WorkGate;

  constructor(private readonly deps: FilterWorkerDeps) {
    this.gate = new WorkGate(deps.maxWorkingBytes ?? DEFAULT_MAX_WORKING_BYTES, deps.workHoldLimitMs ?? WORK_HOLD_LIMIT_MS, () => deps.metrics.messagesOverdue.inc());
    this.publisher = new LeanPublisher(deps.bus.nc, deps.publishTimeoutMs ?? 5_000);
    this.dedupWindowMs = deps.dedupWindowMs ?? deps.topology.streams.ingest.duplicate_window / 1_000_000;
    this.processed = new ProcessedLog({
      bus: deps.bus,
      topology: deps.topology,
      publisher: this.publisher,
      windowMs: () => this.dedupWindowMs,
      ...(deps.maxProcessedPerPartition !== undefined ? { maxPerPartition: deps.maxProcessedPerPartition } : {}),
      onUnreadable: (partition, seq) => deps.logger.warn({ partition, seq }, 'unreadable message in the processed stream: skipped'),
    });
    // Filters are compiled once per config change, never per event.
    deps.config.onChange((next) => {
      if (next.kind === 'sync') this.compile(next);
      // Which syncs are active may have changed (a sync, or its project): read them again.
      this.activeByProject.clear();
    });
    for (const sync of deps.config.syncs.values()) this.compile(sync);
    deps.profiles.listen({
      retry: (key, attempt, delayMs, err) => {
        deps.metrics.stepRetries.inc({ step: 'save' });
        deps.logger.warn({ key, attempt, delayMs, err: String(err) }, 'profile write failed, retrying; its records stay unacked');
      },
      conflict: (key, partition) => {
        deps.metrics.profileConflicts.inc();
        deps.logger.warn({ key, partition }, 'profile written by another replica (revision moved): its records are naked and come back');
      },
      abandoned: (key, partition, err) => {
        deps.logger.warn({ key, partition, err: String(err) }, 'profile write given up with its partition: its records are naked and come back');
      },
    });
  }

  private compile(sync: SyncSnapshot): void {
    this.compiled.set(sync.id, { sync, select: compileFilters(sync.eventFilters) });
  }

  private activeSyncs(projectId: string): CompiledSync[] {
    let active = this.activeByProject.get(projectId);
    if (!active) {
      active = this.readActiveSyncs(projectId);
      this.activeByProject.set(projectId, active);
    }
    return active;
  }

  private readActiveSyncs(projectId: string): CompiledSync[] {
    const out: CompiledSync[] = [];
    for (const sync of this.deps.config.activeSyncsOf(projectId)) {
      const compiled = this.compiled.get(sync.id);
      if (compiled && compiled.sync.version === sync.version) out.push(compiled);
      else {
        this.compile(sync);
        out.push(this.compiled.get(sync.id)!);
      }
    }
    return out;
  }

  /** Partitions this replica works now. */
  get partitions(): string[] {
    return [...this.runners.keys()].sort();
  }

  /**
   * Joins the other filter replicas: each ingest partition is worked by exactly one replica
   * at a time (a lease in KV), so a user's events stay in order and its profile has one writer.
   */
  async start(): Promise<void> {
    const { bus, topology } = this.deps;
    if (this.deps.dedupWindowMs === undefined) {
      // Ingest owns the stream and its window (INGEST_DEDUP_WINDOW_SECONDS): use what it set.
      const window = (await bus.jsm.streams.info(topology.streams.ingest.name)).config.duplicate_window;
      if (window > 0) this.dedupWindowMs = window / 1_000_000;
    }
    // The processed stream keeps marks at least for the window (raised, never lowered).
    const raised = await this.processed.keepForWindow();
    if (raised !== undefined) this.deps.logger.info({ stream: this.deps.topology.streams.processed.name, maxAgeSeconds: raised / 1000 }, 'processed stream kept longer, for the ingest dedup window');
    for (let partition = 0; partition < PARTITIONS; partition++) {
      // max_ack_pending is what bounds the events in flight: JetStream hands out no more.
      await declareConsumer(bus.jsm, topology.streams.ingest.name, {
        ...topology.consumers.filter(partition),
        max_ack_pending: this.deps.maxInFlight,
      });
    }
    const names = Array.from({ length: PARTITIONS }, (_, p) => String(p).padStart(2, '0'));
    this.leaseManager = new LeaseManager({
      kv: this.deps.leases,
      replicaId: this.deps.replicaId,
      resources: () => names,
      onAcquire: async (name) => this.startPartition(Number(name)),
      onRelease: async (name) => this.stopPartition(name),
      ttlMs: topology.buckets.filterLeases.ttl,
      renewEveryMs: Math.floor(topology.buckets.filterLeases.ttl / 4),
      logger: this.deps.logger,
    });
    await this.leaseManager.start();
  }

  private async startPartition(partition: number): Promise<void> {
    const { bus, topology, logger } = this.deps;
    const name = String(partition).padStart(2, '0');
    // Another replica may have changed these users' profiles while it held the partition.
    this.deps.profiles.acquire(partition);
    // The events processed within the window, by whichever replica: read before any record is.
    this.processed.forget(partition);
    const loaded = await this.processed.load(partition);
    const durable = topology.consumers.filter(partition).durable_name;
    const runner = new ConsumerRunner({
      js: bus.js,
      stream: topology.streams.ingest.name,
      durable,
      maxMessages: this.deps.maxInFlight,
      logger,
      onMessage: (msg) => this.onMessage(msg, work),
      // Events a crashed owner was working on come back first, in order.
      awaitForeignAcksMs: ACK_WAIT_MS + 5_000,
    });
    const work: PartitionWork = { partition, runner, durable, stopping: false, held: new Map(), acks: new StoredAcks() };
    runner.start();
    this.runners.set(name, work);
    logger.info({ partition: name, processedEvents: loaded }, 'partition acquired');
  }

  private async stopPartition(name: string): Promise<void> {
    const work = this.runners.get(name);
    this.runners.delete(name);
    if (!work) return;
    work.stopping = true;
    // Saves of it no longer wait for room, failing writes of it are given up soon.
    this.deps.profiles.beginRelease(Number(name));
    await work.runner.stop();
    // Its staged profiles are written now; each record is then acked, or naked if its write failed.
    await this.deps.profiles.release(Number(name));
    await work.acks.drain();
    // The marks of what was processed are written before the partition is let go, for its next owner.
    await this.processed.drain(work.partition);
    this.processed.forget(work.partition);
    this.deps.logger.info({ partition: name }, 'partition released');
  }

  async stop(): Promise<void> {
    for (const work of this.runners.values()) work.stopping = true;
    await this.leaseManager?.stop();
    await Promise.all([...this.runners.keys()].map((name) => this.stopPartition(name)));
    this.gate.close();
    this.publisher.close();
  }

  /** The ingest consumers this replica works now, for the lag gauge. */
  get consumers(): Array<{ stream: string; durable: string }> {
    const { topology } = this.deps;
    return this.partitions.map((name) => ({ stream: topology.streams.ingest.name, durable: topology.consumers.filter(Number(name)).durable_name }));
  }

  /** What this replica works now and what waits (the work gate). */
  get work(): { readonly bytes: number; readonly queued: number } {
    return this.gate;
  }

  /** Ingest messages this replica holds now (handed to it and not yet acked), across its partitions. */
  get inFlight(): number {
    let n = 0;
    for (const work of this.runners.values()) n += work.runner.pending + work.acks.size;
    return n;
  }

  /**
   * One ingest message (a v2 segment, or a v1 record of an older ingest) in one CONSUMER span.
   * Its records are routed in one lane task per user (in the message's order, and so a user's
   * records across messages in stream order; other users run alongside); once every lane has
   * routed, the message's payloads are published as delivery segments, then each lane saves its
   * user's profile. The message is acked when its publishes and the profile writes covering it
   * are stored, or naked whole when a record had to be given back: the redelivered records
   * already processed are skipped (processed-log.ts).
   */
  private onMessage(msg: JsMsg, work: PartitionWork): Promise<void> {
    // Parsed and routed only once let in: a message waiting its turn is its bytes alone.
    return this.gate.run(msg.data.length, () => this.workMessage(msg, work));
  }

  private workMessage(msg: JsMsg, work: PartitionWork): Promise<void> {
    let records: IngestedRecord[];
    try {
      records = recordsOfIngestMessage(decodeJson<unknown>(msg.data));
      // Ingest puts at most MAX_EVENTS_PER_REQUEST (2000) records in a segment; positions need fewer than this.
      if (records.length > RECORDS_PER_MESSAGE) throw new Error(`segment of ${records.length} records, more than ${RECORDS_PER_MESSAGE}`);
    } catch (err) {
      // Only ingest writes this stream; an unreadable message can never become readable. Terminated
      // without a reason: nats-server before 2.10 reads `+TERM <reason>` as a nak and redelivers.
      this.deps.logger.error({ seq: msg.seq, reason: 'unreadable', err: String(err) }, 'unreadable ingest message terminated');
      this.deps.metrics.recordsDropped.inc({ reason: 'unreadable' });
      msg.term();
      return Promise.resolve();
    }
    const segment: SegmentWork = { msg, giveBack: false, stored: [], outbox: undefined as unknown as MessageOutbox, saves: undefined, processed: undefined };
    return traceProcess(
      {
        subject: msg.subject,
        template: this.deps.topology.subjectTemplates.ingest,
        consumer: work.durable,
        headers: msg.headers,
        deliveryCount: msg.info.deliveryCount,
      },
      (_span, ctx) => {
        // Each user's records in order, users in order of their first record.
        const byLane = new Map<string, Array<{ record: IngestedRecord; position: number }>>();
        for (let index = 0; index < records.length; index++) {
          const record = records[index]!;
          const lane = `${record.projectId}\u0000${record.userKey}`;
          const entry = { record, position: msg.seq * RECORDS_PER_MESSAGE + index };
          const entries = byLane.get(lane);
          if (entries) entries.push(entry);
          else byLane.set(lane, [entry]);
        }
        segment.outbox = this.newOutbox(records[0]!, byLane.size, ctx);
        // Lanes whose user has no lane running start now; the others once the user's previous
        // lanes are done (all of this message's waiting lanes at once, after all those).
        const all: LaneRoute[] = [];
        const ready: LaneRoute[] = [];
        let later: LaneRoute[] | undefined;
        let previous: Array<Promise<void>> | undefined;
        let index = 0;
        for (const [lane, entries] of byLane) {
          const r = this.newLane(msg, entries, index++, work, lane, segment);
          all.push(r);
          const tail = this.lanes.tail(lane);
          if (tail === undefined) ready.push(r);
          else {
            (later ??= []).push(r);
            if (previous === undefined) previous = [tail];
            else if (!previous.includes(tail)) previous.push(tail);
          }
        }
        const now = this.runLanes(ready, Date.now());
        let done = now;
        if (later !== undefined) {
          const waiting = later;
          const run = () => this.runLanes(waiting, Date.now());
          const after = previous!.length === 1 ? previous![0]!.then(run, run) : Promise.allSettled(previous!).then(run);
          done = now === undefined ? after : Promise.all([now, after]).then(NOTHING);
        }
        if (done === undefined) return RESOLVED;
        // The users' next lanes wait for this message's (one promise for all of them).
        this.lanes.hold(all, done);
        return done;
      },
    ).then(
      () => this.finish(segment, work),
      (err: unknown) => {
        // processLane() answers for its own errors; anything else gives the message back.
        this.deps.logger.error({ seq: msg.seq, err: String(err) }, 'segment failed: given back');
        segment.giveBack = true;
        this.finish(segment, work);
      },
    );
  }

  private newOutbox(first: IngestedRecord, lanes: number, ctx: Context): MessageOutbox {
    let trace = activeTraceCarrier(ctx);
    if (trace?.tracestate !== undefined && trace.tracestate.length > MAX_HEAD_TRACESTATE_CHARS) trace = { traceparent: trace.traceparent! };
    let settle!: MessageOutbox['settle'];
    const progress = new OutboxProgress();
    const published = new Promise<OutboxProgress>((resolve, reject) => {
      settle = (outcome) => (outcome.ok ? resolve(progress) : reject(outcome.err));
    });
    // A message whose lanes all fail before routing leaves this unread.
    published.catch(() => undefined);
    return { projectId: first.projectId, receivedAt: first.receivedAt, trace, context: ctx, lanes: new Array<RoutedPayload[]>(lanes), remaining: lanes, progress, published, settle };
  }

  /**
   * A lane hands over the payloads it routed (none when it routed nothing or failed); the last
   * one publishes the message's outbox, retried in place (every lane of the message waits).
   */
  private handOver(msg: JsMsg, work: PartitionWork, segment: SegmentWork, laneIndex: number, payloads: RoutedPayload[]): void {
    const outbox = segment.outbox;
    if (outbox.lanes[laneIndex] !== undefined) return;
    outbox.lanes[laneIndex] = payloads;
    if (--outbox.remaining > 0) return;
    let all = outbox.lanes[0]!;
    if (outbox.lanes.length > 1) {
      // Not Array.prototype.flat (generic, slow in V8): the lanes' payloads one after another.
      all = [];
      for (const lane of outbox.lanes) for (const p of lane) all.push(p);
    }
    if (all.length === 0) {
      outbox.settle({ ok: true });
      return;
    }
    this.untilDone(msg, work, 'publish', () => this.publishSegments(all, outbox), outbox.context).then(
      () => {
        // Refused for their size even alone: discarded, once (the publish is done).
        for (const p of outbox.progress.refused) {
          this.deps.logger.warn({ ...explicitTraceFields(outbox.context), sync: p.syncId, messageId: p.messageId, bytes: p.bytes }, 'delivery payload refused for its size: discarded');
          this.discard({ syncId: p.syncId, payloadType: p.payloadType, messageId: p.messageId, reason: 'too large for NATS' }, outbox.receivedAt, outbox.context);
        }
        outbox.settle({ ok: true });
      },
      (err: unknown) => outbox.settle({ ok: false, err }),
    );
  }

  /** The outbox's segments (publishOutbox), each in one PRODUCER span. */
  private publishSegments(payloads: RoutedPayload[], outbox: MessageOutbox): Promise<void> {
    const { topology, metrics } = this.deps;
    const maxPayload = this.deps.bus.nc.info?.max_payload;
    return publishOutbox(
      payloads,
      {
        projectId: outbox.projectId,
        trace: outbox.trace,
        maxBytes: maxJobBytes(maxPayload),
        partitionOf,
        tooLarge: (err) => classifyPublishFailure(err) === 'too large',
        send: async (seg: OutgoingSegment) => {
          const subject = topology.subjects.delivery(seg.syncId, seg.partition);
          await tracePublishLinked(
            { subject, template: topology.subjectTemplates.delivery, messageId: seg.msgId, bodySize: seg.data.length, itemCount: seg.payloads.length },
            [outbox.trace],
            (headers) => this.publisher.publish(subject, seg.withTrace(sampledHeadTrace(headers, outbox.trace)), { msgID: seg.msgId, ...(headers ? { headers } : {}) }),
            outbox.context,
          );
          metrics.deliverySegments.inc();
          this.countQueued(seg.syncId, seg.payloads);
        },
      },
      outbox.progress,
    );
  }

  private finish(segment: SegmentWork, work: PartitionWork): void {
    const { metrics } = this.deps;
    if (segment.giveBack) {
      // Writes of its other records go on, then their marks: the redelivery skips those records.
      for (const stored of segment.stored) stored.catch(() => undefined);
      this.writeProcessedEach(segment, work);
      segment.msg.nak(HELD_REDELIVERY_DELAY_MS);
      metrics.segments.inc({ result: 'given back' });
      return;
    }
    const all = Promise.all(segment.stored);
    const saves = segment.saves;
    // Once every write covering the message is stored, the marks of its records, in one write.
    const allDone =
      saves === undefined
        ? all.then(() => {
            metrics.segments.inc({ result: 'acked' });
          })
        : all
            .then(() => {
              let marks = saves[0]!.marks;
              if (saves.length > 1) {
                marks = [];
                for (const save of saves) for (const mark of save.marks) marks.push(mark);
              }
              return this.processed.write(work.partition, marks);
            })
            .then(() => {
              segment.processed!.resolve();
              metrics.segments.inc({ result: 'acked' });
            });
    work.acks.add(segment.msg, allDone, () => {
      // A write was refused (another replica wrote the profile) or given up with the partition:
      // the message goes back, and the users whose write failed wait for it (awaitStored). The
      // marks of the records whose writes were stored are still written, so they are skipped.
      if (saves !== undefined) this.writeProcessedEach(segment, work);
      segment.msg.nak(HELD_REDELIVERY_DELAY_MS);
      metrics.segments.inc({ result: 'given back' });
    });
  }

  /**
   * A message given back: the marks of each saved lane are written once its own profile write is
   * stored (those whose write failed are forgotten, their records processed when they come back).
   */
  private writeProcessedEach(segment: SegmentWork, work: PartitionWork): void {
    const saves = segment.saves;
    if (saves === undefined) return;
    const done = segment.processed!;
    const each = saves.map((save) =>
      save.stored.then(
        () => this.processed.write(work.partition, save.marks),
        (err: unknown) => {
          this.processed.unstage(work.partition, save.marks, done.promise);
          throw err;
        },
      ),
    );
    Promise.all(each).then(done.resolve, (err: unknown) => {
      for (const save of saves) this.processed.unstage(work.partition, save.marks, done.promise);
      done.reject(err);
    });
  }

  /**
   * The record's message waits for `stored` before it is acked. Should the write fail, the
   * record's user is held from this record on, so its later records are given back too and none
   * passes it.
   */
  private awaitStored(segment: SegmentWork, work: PartitionWork, lane: string, position: number, stored: Promise<void>): void {
    segment.stored.push(
      stored.catch((err: unknown) => {
        work.held.set(lane, Math.min(work.held.get(lane) ?? Infinity, position));
        throw err;
      }),
    );
  }


  /**
   * One user's records of one message, start to done (the message is acked once all its lanes
   * are). The records are routed one after another on the user's profile in memory, the payloads
   * handed to the message's outbox; once it is published, the profile after the last record is
   * saved, once, remembering every record processed. Every step that touches NATS (reading the
   * profile, publishing the outbox, writing the profile) is retried in place while the user's
   * lane is held, so a later event of the user never passes a failed one. Records already handed
   * out are drained on shutdown; a record is given back (its message naked) only when a step
   * still fails while its partition is being given up (or on an unexpected error), and then the
   * user's later records are given back too, in stream order with the same delay, so they come
   * back after it. A record whose event the user processed within the dedup window is skipped.
   *
   * The lanes of a message start together (runLanes) once their users' previous lanes are done;
   * this is a lane whose profile must be read first. A lane with its profile in memory runs the
   * same steps (startLane, routeLane, saveLane) without a promise of its own.
   */
  private async loadLane(r: LaneRoute): Promise<void> {
    try {
      const { profiles } = this.deps;
      const before = await this.untilDone(r.msg, r.work, 'load', () => profiles.load(r.ref), r.segment.outbox.context);
      if (!this.routeLane(r, before)) return;
      const progress = await r.segment.outbox.published;
      const saving = this.saveLane(r, progress);
      if (saving) await saving;
    } catch (err) {
      this.failLane(r, err);
    }
  }

  /**
   * Starts lanes of one message whose users' previous lanes are done: routes at once those whose
   * profile is in memory (no promise of their own; saved together once the outbox is published),
   * and reads the others' (loadLane). Settles once every one is staged or given back; undefined
   * when all are done already.
   */
  private runLanes(lanes: readonly LaneRoute[], now: number): Promise<void> | undefined {
    let routed: LaneRoute[] | undefined;
    let waits: Array<Promise<void>> | undefined;
    for (const r of lanes) {
      r.now = now;
      try {
        if (!this.startLane(r)) continue;
        // In memory (staged or cached) for most users: no read, no promise.
        const before = this.deps.profiles.peek(r.ref);
        if (before === undefined) (waits ??= []).push(this.loadLane(r));
        else if (this.routeLane(r, before)) (routed ??= []).push(r);
      } catch (err) {
        this.failLane(r, err);
      }
    }
    if (routed !== undefined) {
      const saves = routed;
      const saved = saves[0]!.segment.outbox.published.then(
        (progress) => this.saveLanes(saves, progress),
        (err: unknown) => {
          for (const r of saves) this.failLane(r, err);
        },
      );
      (waits ??= []).push(saved);
    }
    return waits === undefined ? undefined : waits.length === 1 ? waits[0] : Promise.all(waits).then(NOTHING);
  }

  /** A lane about to run (its user's previous lane is done): its profile address and state. */
  private newLane(
    msg: JsMsg,
    entries: ReadonlyArray<{ record: IngestedRecord; position: number }>,
    laneIndex: number,
    work: PartitionWork,
    lane: string,
    segment: SegmentWork,
  ): LaneRoute {
    const first = entries[0]!;
    return {
      msg,
      entries,
      laneIndex,
      work,
      lane,
      segment,
      ref: this.deps.profiles.ref(first.record.projectId, first.record.userKey),
      now: 0,
      heldAt: undefined,
      reachedHeld: false,
      pending: first.position,
      payloads: [],
      marks: [],
      before: undefined,
      initial: undefined,
      current: undefined,
      currentJson: undefined,
      changed: false,
      countKind: first.record.kind,
      counted: 0,
    };
  }

  /**
   * Reads whether the user is held as the lane starts: false (the lane is done, its records given
   * back) when the user is held from before its first record; then no profile is needed.
   */
  private startLane(r: LaneRoute): boolean {
    r.heldAt = r.work.held.get(r.lane);
    if (r.heldAt !== undefined && r.entries[0]!.position > r.heldAt) {
      r.segment.giveBack = true;
      r.pending = Infinity;
      this.handOver(r.msg, r.work, r.segment, r.laneIndex, r.payloads);
      return false;
    }
    return true;
  }

  /**
   * Routes the lane's records on `loaded` (the user's profile as staged, cached or read) and hands
   * the payloads over to the message's outbox, without waiting for anything. True when a record
   * was routed: the profile is then saved once the outbox is published (saveLane). False when the
   * lane is done (nothing routed: duplicates, or given back from the held record on).
   */
  private routeLane(r: LaneRoute, loaded: ProfileEntry): boolean {
    const { profiles, metrics, logger } = this.deps;
    const { msg, work, segment, lane, marks, payloads } = r;
    const before = positionedProfile(loaded);
    r.before = before;
    /**
     * JSON of `before` without its processed keys (the part routing gives), when this worker saved
     * it with that (ProfileStore keeps it as the save's head): a lane whose records change nothing
     * saves that JSON again with the new processed keys, without serializing the profile again.
     */
    const beforeHead = before === loaded ? r.ref.head : undefined;
    let waitedStored = false;
    let routedAny = false;
    // A profile of an older version may hold processed keys of its own (read once per lane).
    const oldMarks = hasMarks(before.seen);
    for (const { record, position } of r.entries) {
      if (r.heldAt !== undefined && position > r.heldAt) {
        segment.giveBack = true;
        break;
      }
      r.pending = position;
      if (position === r.heldAt) {
        r.reachedHeld = true;
        r.heldAt = undefined;
      }
      // The event of this user of this project (as Amplitude dedupes per project and device, and
      // profiles did per user): the same insert_id of another user is another event.
      const mark = processedMark(`${lane}\u0000${record.eventKey}`);
      // Processed before: in this lane, on this partition (done, or still being stored), or in a
      // profile written by an older version (which kept the marks, of the event key alone, in the profile).
      const inLane = marks.length > 0 && marks.includes(mark);
      const processed = inLane ? undefined : this.processed.check(work.partition, mark, r.now);
      if (inLane || processed !== undefined || (oldMarks && wasProcessed(before.seen, processedMark(record.eventKey), r.now, this.dedupWindowMs))) {
        metrics.recordsDuplicate.inc();
        // Its work may still be being stored: the message waits for it (and is given back should it fail).
        if (processed !== undefined && processed !== true) this.awaitStored(segment, work, lane, position, processed);
        else if (!inLane && !waitedStored) {
          waitedStored = true;
          this.awaitStored(segment, work, lane, position, profiles.stored(r.ref));
        }
        continue;
      }
      // Routing ignores the processed keys: the profile as of the last record is given as it is.
      const current = r.current;
      const routed = this.route(msg, record, position, current ?? before, segment.outbox.context);
      if (!routed) continue;
      if (record.kind !== r.countKind) {
        this.countRecords(r.countKind, r.counted);
        r.countKind = record.kind;
        r.counted = 0;
      }
      r.counted++;
      if (routed.droppedTraits.length > 0) {
        metrics.traitsDropped.inc(routed.droppedTraits.length);
        logger.warn(
          { ...explicitTraceFields(segment.outbox.context), seq: msg.seq, project: record.projectId, traits: routed.droppedTraits, maxProfileBytes: this.deps.maxProfileBytes },
          'profile over its byte bound: largest user properties dropped',
        );
      }
      for (const d of routed.discards) this.discard(d, record.receivedAt, segment.outbox.context);
      for (const p of routed.payloads) payloads.push(p);
      r.initial ??= before;
      // Unchanged, routing's profile serializes as `before` did without its processed keys.
      r.currentJson = routed.serialized ?? (routed.changed ? undefined : current === undefined ? beforeHead : r.currentJson);
      r.current = routed.profile;
      if (routed.changed) r.changed = true;
      marks.push(mark);
      routedAny = true;
    }
    this.countRecords(r.countKind, r.counted);
    r.counted = 0;
    r.pending = Infinity;
    this.handOver(msg, work, segment, r.laneIndex, payloads);
    if (!routedAny) {
      if (r.reachedHeld) this.release(work, lane);
      return false;
    }
    r.pending = r.entries[0]!.position;
    return true;
  }

  /**
   * Once the message's outbox is published: saves the lane's profile after its last record,
   * remembering every record processed. Undefined once it is staged (the usual case); a promise
   * when the save waits for room (retried in place) — the user's lane is held until it settles.
   */
  private saveLane(r: LaneRoute, progress: OutboxProgress): Promise<void> | undefined {
    const { profiles } = this.deps;
    const current = r.current!;
    // An identify NATS refused was not sent: do not remember it as sent.
    const unsent =
      progress.refused.length === 0 ? [] : progress.refused.filter((p) => p.payloadType === 'identify' && r.payloads.includes(p)).map((p) => p.syncId);
    const forgotten = forgetIdentifies(current, r.initial!, unsent);
    if (!r.changed && forgotten === current) {
      // Nothing changed (most events repeat what the profile says): nothing to write. The message
      // still waits for the user's writes before it (its records must not be acked before
      // theirs); a crash before its marks are written routes the records again, to the same
      // profile and the same payload ids.
      this.saved(r, { stored: profiles.stored(r.ref) });
      return undefined;
    }
    // Saved when a record changed it: its position moves on (lastSeq). The processed events are
    // kept in the processed stream (processed-log.ts), not here: the profile says `"seen":{}`
    // (written so since profiles count record positions; see positionedProfile).
    const seen = NO_MARKS;
    const seenJson = '{}';
    // Built field by field (as routing builds it), not spread: this runs for every lane.
    const profile: ProfileEntry = {
      v: 1,
      properties: forgotten.properties,
      userId: forgotten.userId,
      deviceId: forgotten.deviceId,
      lastSeq: forgotten.lastSeq,
      identified: forgotten.identified,
      seen,
    };
    // The profile's JSON from pieces serialized once: routing's (or the profile's without the
    // processed keys) and the processed keys'.
    const head = forgotten === current && r.currentJson !== undefined ? r.currentJson : 'seen' in forgotten ? undefined : JSON.stringify(forgotten);
    const joined = head !== undefined && head.length > 2;
    const serialized = joined ? `${head.slice(0, -1)},"seen":${seenJson}}` : JSON.stringify(profile);
    // Write-behind: the lane goes on once the profile is staged; the message is acked only once
    // the writes covering all its records are stored.
    const saved = joined ? head : undefined;
    const receipt = this.saveNow(r.ref, profile, serialized, saved);
    if (receipt) {
      this.saved(r, receipt);
      return undefined;
    }
    return this.untilDone(r.msg, r.work, 'save', () => profiles.save(r.ref, profile, serialized, saved), r.segment.outbox.context).then((staged) => this.saved(r, staged));
  }

  private saved(r: LaneRoute, receipt: SaveReceipt): void {
    // Staged: the records are processed (pending), done once the writes covering the message and
    // then their marks are stored (finish).
    const segment = r.segment;
    (segment.saves ??= []).push({ marks: r.marks, stored: receipt.stored });
    segment.processed ??= deferred();
    this.processed.stage(r.work.partition, r.marks, segment.processed.promise);
    this.awaitStored(segment, r.work, r.lane, r.entries[0]!.position, receipt.stored);
    if (r.reachedHeld) this.release(r.work, r.lane);
  }

  /** A step of the lane failed for good (or unexpectedly): its records from the first not done are given back. */
  private failLane(r: LaneRoute, err: unknown): void {
    this.countRecords(r.countKind, r.counted);
    r.counted = 0;
    this.handOver(r.msg, r.work, r.segment, r.laneIndex, []);
    if (r.pending !== Infinity) r.work.held.set(r.lane, Math.min(r.work.held.get(r.lane) ?? Infinity, r.pending));
    r.segment.giveBack = true;
    if (!(err instanceof PartitionStopping)) {
      this.deps.logger.error(
        { ...explicitTraceFields(r.segment.outbox.context), seq: r.msg.seq, project: r.entries[0]!.record.projectId, err: String(err) },
        'record failed: given back, the user waits for its redelivery',
      );
    }
  }

  /** The user's held record was processed: its later records go on. */
  private release(work: PartitionWork, lane: string): void {
    work.held.delete(lane);
  }

  /** saveLane for the lanes onMessage routed at once; settles once every one of them is staged (or failed). */
  private saveLanes(saves: readonly LaneRoute[], progress: OutboxProgress): Promise<void> | undefined {
    let waiting: Array<Promise<void>> | undefined;
    for (const r of saves) {
      try {
        const saving = this.saveLane(r, progress);
        if (saving) (waiting ??= []).push(saving.catch((err: unknown) => this.failLane(r, err)));
      } catch (err) {
        this.failLane(r, err);
      }
    }
    return waiting === undefined ? undefined : Promise.all(waiting).then(NOTHING);
  }

  /** Stages the profile at once when there is room; undefined sends it the waiting (and retrying) way. */
  private saveNow(ref: ProfileRef, profile: ProfileEntry, serialized: string, head: string | undefined): SaveReceipt | undefined {
    try {
      return this.deps.profiles.saveNow(ref, profile, serialized, head);
    } catch {
      return undefined;
    }
  }

  /**
   * The pure decision. It does not fail on any input ingest accepts; should it throw all the
   * same, the record would throw again on every delivery, so it is dropped and counted (the rest
   * of its segment goes on) rather than holding its user (and then its partition) forever.
   */
  private route(msg: JsMsg, record: IngestedRecord, position: number, before: ProfileEntry, ctx: Context): RoutedRecord | undefined {
    try {
      return routeRecord(record, position, before, this.activeSyncs(record.projectId), Date.now(), this.routeLimits());
    } catch (err) {
      this.deps.logger.error({ ...explicitTraceFields(ctx), seq: msg.seq, project: record.projectId, err: String(err) }, 'record could not be routed: dropped');
      this.deps.metrics.recordsDropped.inc({ reason: 'routing failed' });
      return undefined;
    }
  }

  private routeLimits(): RouteLimits {
    const maxPayload = this.deps.bus.nc.info?.max_payload;
    if (this.limits?.maxPayload !== maxPayload || this.limits === undefined) {
      this.limits = {
        maxPayload,
        limits: {
          ...(this.deps.maxProfileBytes !== undefined ? { maxProfileBytes: this.deps.maxProfileBytes } : {}),
          maxDeliveryBytes: maxDeliveryBytes(maxPayload),
          // Segments carry payloadJson: the payload objects die young instead of waiting for the message.
          payloadObjects: false,
        },
      };
    }
    return this.limits.limits;
  }

  private countRecords(kind: string, n: number): void {
    if (n === 0) return;
    let counter = this.recordCounters.get(kind);
    if (!counter) this.recordCounters.set(kind, (counter = this.deps.metrics.records.labels({ kind })));
    counter.inc(n);
  }

  /** The payloads of one stored segment (all of one sync), counted once per payload type. */
  private countQueued(syncId: string, payloads: readonly RoutedPayload[]): void {
    let identifies = 0;
    for (const p of payloads) if (p.payloadType === 'identify') identifies++;
    if (identifies > 0) this.countQueuedOf(syncId, 'identify', identifies);
    if (payloads.length > identifies) this.countQueuedOf(syncId, 'track', payloads.length - identifies);
  }

  private countQueuedOf(syncId: string, type: RoutedPayload['payloadType'], n: number): void {
    const key = `${syncId}\u0000${type}`;
    let counter = this.queuedCounters.get(key);
    if (!counter) {
      counter = this.deps.metrics.payloads.labels({ sync: syncId, type, outcome: 'queued', reason: '' });
      this.queuedCounters.set(key, counter);
    }
    counter.inc(n);
  }

  private discard(d: Discard, receivedAt: number, ctx: Context): void {
    this.deps.metrics.payloads.inc({ sync: d.syncId, type: d.payloadType, outcome: 'discarded', reason: d.reason });
    this.publishDiscard(d, receivedAt, ctx);
  }

  /** A discarded payload is counted in the sync's metrics through an outcome record (in the trace of `ctx`). */
  private publishDiscard(discard: Discard, receivedAt: number, ctx: Context): void {
    const { bus, topology, logger } = this.deps;
    const outcome: DeliveryOutcome = {
      v: 1,
      syncId: discard.syncId,
      messageId: discard.messageId,
      payloadType: discard.payloadType,
      result: 'discarded',
      attempt: 0,
      at: Date.now(),
      receivedAt,
      reason: discard.reason,
    };
    const traceId = traceIdOf(ctx);
    if (traceId) outcome.traceId = traceId;
    // Folded into the sync's outcome aggregate, sent about every second (and at shutdown).
    sharedOutcomeSender(bus, topology, logger).outcome(outcome);
  }

  /**
   * Retries a step in place (holding the user's lane, so order is kept) until it succeeds. When
   * the partition is being given up it stops trying: the message is naked and comes back, in
   * order, to whichever replica works the partition next.
   */
  private async untilDone<T>(msg: JsMsg, work: PartitionWork, step: Step, run: () => Promise<T>, ctx: Context): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0 && work.stopping) throw new PartitionStopping();
      try {
        return await run();
      } catch (err) {
        if (work.stopping) throw new PartitionStopping();
        if (step === 'publish') this.deps.metrics.publishRetries.inc();
        this.deps.metrics.stepRetries.inc({ step });
        this.deps.logger.warn({ ...explicitTraceFields(ctx), seq: msg.seq, step, attempt, err: String(err) }, 'filter step failed, retrying');
        // No msg.working() here: the consumer runner keeps every message in hand alive at the same
        // moments, so after a crash they expire, and come back, in stream order. Refreshing only
        // this one would let the user's later records come back before it.
        await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5_000)));
      }
    }
  }
}
