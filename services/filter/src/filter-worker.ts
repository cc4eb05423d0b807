import type { DeliveryJob, DeliveryOutcome, IngestedRecord, SyncSnapshot } from '@inkstream/contracts';
import {
  ACK_WAIT_MS,
  ConsumerRunner,
  KeyedLanes,
  LeaseManager,
  PARTITIONS,
  decodeJson,
  declareConsumer,
  encodeJson,
  partitionOf,
  type Bus,
  type ConfigView,
  type JsMsg,
  type KV,
  type Topology,
} from '@inkstream/bus';
import type { Logger } from '@inkstream/service-kit';
import { activeTraceId, tracePublish, traceProcess } from '@inkstream/telemetry';
import type { FilterMetrics } from './metrics.js';
import type { ProfileStore } from './profile-store.js';
import { compileFilters, routeRecord, type CompiledSync, type Discard } from '@inkstream/sync-routing';

export interface FilterWorkerDeps {
  bus: Bus;
  topology: Topology;
  config: ConfigView;
  profiles: ProfileStore;
  metrics: FilterMetrics;
  logger: Logger;
  maxInFlight: number;
  /** Bucket of partition leases shared by the filter replicas. */
  leases: KV;
  replicaId: string;
}

/**
 * Consumes the ingest partitions, keeps user profiles and publishes the payloads of every
 * active sync to the delivery stream. A source event is acked only after all its payloads
 * and its profile are stored, so a crash repeats work (deduplicated by message id) and never
 * loses it. Each event is processed in a span of the trace its ingest request started, and
 * each delivery job carries that trace on to delivery in its headers.
 */
export class FilterWorker {
  private readonly compiled = new Map<string, CompiledSync>();
  private readonly runners = new Map<string, ConsumerRunner>();
  private leaseManager: LeaseManager | undefined;
  private readonly lanes = new KeyedLanes();
  private stopping = false;

  constructor(private readonly deps: FilterWorkerDeps) {
    // Filters are compiled once per config change, never per event.
    deps.config.onChange((next) => {
      if (next.kind === 'sync') this.compile(next);
    });
    for (const sync of deps.config.syncs.values()) this.compile(sync);
  }

  private compile(sync: SyncSnapshot): void {
    this.compiled.set(sync.id, { sync, select: compileFilters(sync.eventFilters) });
  }

  private activeSyncs(projectId: string): CompiledSync[] {
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
    for (let partition = 0; partition < PARTITIONS; partition++) {
      await declareConsumer(bus.jsm, topology.streams.ingest.name, topology.consumers.filter(partition));
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

  private startPartition(partition: number): void {
    const { bus, topology, logger } = this.deps;
    const name = String(partition).padStart(2, '0');
    // Another replica may have changed these users' profiles while it held the partition.
    this.deps.profiles.clear();
    const durable = topology.consumers.filter(partition).durable_name;
    const runner = new ConsumerRunner({
      js: bus.js,
      stream: topology.streams.ingest.name,
      durable,
      maxMessages: this.deps.maxInFlight,
      logger,
      onMessage: (msg) => this.onMessage(msg, durable),
      // Events a crashed owner was working on come back first, in order.
      awaitForeignAcksMs: ACK_WAIT_MS + 5_000,
    });
    runner.start();
    this.runners.set(name, runner);
    logger.info({ partition: name }, 'partition acquired');
  }

  private async stopPartition(name: string): Promise<void> {
    const runner = this.runners.get(name);
    this.runners.delete(name);
    await runner?.stop();
    this.deps.logger.info({ partition: name }, 'partition released');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.leaseManager?.stop();
    await Promise.all([...this.runners.values()].map((r) => r.stop()));
  }

  /** The ingest consumers this replica works now, for the lag gauge. */
  get consumers(): Array<{ stream: string; durable: string }> {
    const { topology } = this.deps;
    return this.partitions.map((name) => ({ stream: topology.streams.ingest.name, durable: topology.consumers.filter(Number(name)).durable_name }));
  }

  private onMessage(msg: JsMsg, durable: string): Promise<void> {
    let record: IngestedRecord;
    try {
      record = decodeJson<IngestedRecord>(msg.data);
    } catch (err) {
      // Only ingest writes this stream; an unreadable message can never become readable.
      this.deps.logger.error({ seq: msg.seq, err: String(err) }, 'unreadable ingest message terminated');
      msg.term('unreadable');
      return Promise.resolve();
    }
    // One user's records run one after another; other users run alongside.
    return this.lanes.run(`${record.projectId}\u0000${record.userKey}`, () =>
      traceProcess(
        {
          subject: msg.subject,
          template: this.deps.topology.subjectTemplates.ingest,
          consumer: durable,
          headers: msg.headers,
          deliveryCount: msg.info.deliveryCount,
        },
        () => this.process(msg, record),
      ),
    );
  }

  private async process(msg: JsMsg, record: IngestedRecord): Promise<void> {
    const { profiles, metrics } = this.deps;
    const before = await profiles.load(record.projectId, record.userKey);
    const routed = routeRecord(record, msg.seq, before, this.activeSyncs(record.projectId), Date.now());
    metrics.records.inc({ kind: record.kind });
    for (const d of routed.discards) {
      metrics.payloads.inc({ sync: d.syncId, type: d.payloadType, outcome: 'discarded', reason: d.reason });
      this.publishDiscard(d, record);
    }
    await this.untilDone(msg, () => this.publish(routed.jobs));
    for (const job of routed.jobs) {
      metrics.payloads.inc({ sync: job.syncId, type: job.payloadType, outcome: 'queued', reason: '' });
    }
    if (routed.changed) await this.untilDone(msg, () => profiles.save(record.projectId, record.userKey, routed.profile));
    msg.ack();
  }

  /** A discarded payload is counted in the sync's metrics through an outcome event. */
  private publishDiscard(discard: Discard, record: IngestedRecord): void {
    const { bus, topology, logger } = this.deps;
    const outcome: DeliveryOutcome = {
      v: 1,
      syncId: discard.syncId,
      messageId: discard.messageId,
      payloadType: discard.payloadType,
      result: 'discarded',
      attempt: 0,
      at: Date.now(),
      receivedAt: record.receivedAt,
      reason: discard.reason,
    };
    const traceId = activeTraceId();
    if (traceId) outcome.traceId = traceId;
    bus.js.publish(topology.subjects.outcome(discard.syncId), encodeJson(outcome)).catch((err: unknown) => {
      logger.warn({ sync: discard.syncId, err: String(err) }, 'discard outcome not published');
    });
  }

  private async publish(jobs: readonly DeliveryJob[]): Promise<void> {
    const { bus, topology } = this.deps;
    // Publishes from one connection are stored in the order they are sent.
    await Promise.all(
      jobs.map((job) => {
        const subject = topology.subjects.delivery(job.syncId, partitionOf(job.userKey));
        const data = encodeJson(job);
        return tracePublish({ subject, template: topology.subjectTemplates.delivery, messageId: job.messageId, bodySize: data.length }, (headers) =>
          bus.js.publish(subject, data, { msgID: job.messageId, ...(headers ? { headers } : {}) }),
        );
      }),
    );
  }

  /**
   * Retries a step in place (holding the user's lane, so order is kept) until it succeeds,
   * telling JetStream the message is still being worked on. On shutdown the message is left
   * unacknowledged and comes back later.
   */
  private async untilDone(msg: JsMsg, step: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await step();
        return;
      } catch (err) {
        if (this.stopping) throw err;
        this.deps.metrics.publishRetries.inc();
        this.deps.logger.warn({ seq: msg.seq, attempt, err: String(err) }, 'filter step failed, retrying');
        msg.working();
        await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5_000)));
      }
    }
  }
}
