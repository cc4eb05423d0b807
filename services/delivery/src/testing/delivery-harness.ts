import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { randomBytes } from 'node:crypto';
import { ConfigView, connectBus, createTopology, declareStreams, decodeJson, encodeJson, openBucket, partitionOf, type Bus, type KV } from '@inkstream/bus';
import {
  DEFAULT_DELIVERY_SETTINGS,
  encodeDeliverySegment,
  outcomesIn,
  type DeadLetter,
  type DeliveryJob,
  type DeliveryOutcome,
  type DeliverySegmentHead,
  type DeliverySettings,
  type OutcomeMessage,
  type SyncSnapshot,
  type TrackPayload,
} from '@inkstream/contracts';
import { HttpSender } from '@inkstream/movable-ink';
import { createSecretBox } from '@inkstream/secret-box';
import { createLogger, createMetricsRegistry, type Logger } from '@inkstream/service-kit';
import { MovableInkStandIn, payloadsOf } from '@inkstream/testing';
import { AttemptStore, type StoredAttempts } from '../attempt-store.js';
import type { DurableBackoff } from '../backoff.js';
import { DeliveryService } from '../delivery-service.js';
import { createDeliveryMetrics } from '../metrics.js';
import { OutcomePublisher } from '../outcome-publisher.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
export const GOOD_AUTHORIZATION = 'Basic Z29vZDpjcmVkcw==';

type PublishOptions = NonNullable<Parameters<Bus['js']['publish']>[2]>;

/** A track payload of a user as the filter builds it: event `E` with the test's properties. */
export function trackPayload(userKey: string, messageId: string, properties: Record<string, unknown>, timestamp = Date.now()): TrackPayload {
  return { type: 'track', event: 'E', user_id: userKey, timestamp, message_id: messageId, properties };
}

/** The v1 delivery job of one payload of a sync (project `p1`), received now. */
export function deliveryJob(syncId: string, userKey: string, payload: TrackPayload): DeliveryJob {
  return { v: 1, syncId, projectId: 'p1', payloadType: 'track', messageId: payload.message_id, userKey, receivedAt: Date.now(), payload };
}

/**
 * A v2 segment of track payloads of a sync (project `p1`, received now), encoded as the filter
 * writes it: their heads, then each payload's JSON as given.
 */
export function deliverySegment(syncId: string, payloads: ReadonlyArray<{ messageId: string; userKey: string; json: string }>): string {
  const head: DeliverySegmentHead = {
    v: 2,
    syncId,
    projectId: 'p1',
    payloads: payloads.map((p) => ({ messageId: p.messageId, userKey: p.userKey, payloadType: 'track', receivedAt: Date.now() })),
  };
  return encodeDeliverySegment(head, payloads.map((p) => p.json));
}

/** A delivered payload's user and number (`properties.seq`), for the stand-in's order checks. */
export const orderOf = (p: Record<string, unknown>) => ({ user: p.user_id as string, seq: (p.properties as { seq: number }).seq });

/**
 * The delivery service against the real NATS and a stand-in endpoint, with its configuration fed
 * straight into a ConfigView: `open` once (streams and buckets in a namespace of their own),
 * `startService`/`stopService` around each test, `close` at the end (everything deleted).
 */
export class DeliveryHarness {
  readonly topology = createTopology({ namespace: `t_dlv_${randomBytes(4).toString('hex')}` });
  readonly logger: Logger;
  readonly secrets = createSecretBox(randomBytes(32).toString('hex'));
  bus!: Bus;
  standIn!: MovableInkStandIn;
  endpoint!: string;
  config!: ConfigView;
  service!: DeliveryService;
  outcomePublisher!: OutcomePublisher;
  /** The metrics registry of the running service. */
  registry!: ReturnType<typeof createMetricsRegistry>;
  private sender!: HttpSender;
  private leases!: KV;
  private attemptsKv!: KV;
  private counter = 0;
  private version = 1;
  /**
   * Faults to inject: how many of the next writes of each kind fail (a KV or stream outage), and
   * how many of the next outcomes throw (an unexpected error in the middle of a payload's handling).
   */
  readonly faults = { attemptWrites: 0, deadLetterWrites: 0, outcomeThrows: 0 };

  constructor(
    private readonly backoff: DurableBackoff,
    private readonly options: { logger?: Logger; summaryIntervalMs?: number } = {},
  ) {
    this.logger = options.logger ?? createLogger('delivery-test', 'silent');
  }

  async open(): Promise<void> {
    this.bus = await connectBus({ url: NATS_URL, name: 'delivery-test', logger: this.logger });
    await declareStreams(this.bus.jsm, this.topology);
    this.leases = await openBucket(this.bus.kvm, this.topology.buckets.deliveryLeases);
    this.attemptsKv = await openBucket(this.bus.kvm, this.topology.buckets.deliveryAttempts);
  }

  async startService(): Promise<void> {
    this.standIn = new MovableInkStandIn();
    this.endpoint = await this.standIn.start();
    this.config = new ConfigView(this.logger);
    this.config.apply({ kind: 'project', id: 'p1', name: 'p', apiKeyHash: 'h', version: 1, deleted: false, updatedAt: '' });
    this.sender = new HttpSender({ allowPrivateEndpoints: true, connectionsPerOrigin: 32 });
    this.service = this.newService();
    await this.service.start();
  }

  /**
   * A new delivery replica in place of the running one, which stops first (giving back what it
   * holds): the same endpoint, configuration and outcome publisher; nothing in memory is kept.
   */
  async restartService(): Promise<void> {
    await this.service.stop();
    this.service = this.newService();
    await this.service.start();
  }

  /** The attempts bucket (retry state, done marks). */
  get attemptsBucket(): KV {
    return this.attemptsKv;
  }

  private newService(): DeliveryService {
    const { bus, topology, logger } = this;
    return new DeliveryService({
      config: this.config,
      deps: {
        bus,
        topology,
        sender: this.sender,
        secrets: this.secrets,
        metrics: createDeliveryMetrics((this.registry = createMetricsRegistry('delivery'))),
        logger,
        attempts: new FlakyAttemptStore(this.attemptsKv, this.faults),
        outcomes: (this.outcomePublisher ??= new FlakyOutcomePublisher(bus, topology, logger, this.faults)),
        backoff: this.backoff,
        ...(this.options.summaryIntervalMs !== undefined ? { summaryIntervalMs: this.options.summaryIntervalMs } : {}),
      },
      logger,
      leases: this.leases,
      replicaId: `r-${randomBytes(3).toString('hex')}`,
      leaseTtlMs: 10_000,
    });
  }

  async stopService(): Promise<void> {
    await this.service.stop();
    await this.outcomePublisher.stop();
    this.outcomePublisher = undefined as unknown as OutcomePublisher;
    await this.sender.close();
    await this.standIn.stop();
  }

  async close(): Promise<void> {
    for await (const name of this.bus.jsm.streams.names()) {
      if (name.startsWith(this.topology.namespace.toUpperCase()) || name.includes(this.topology.namespace)) {
        await this.bus.jsm.streams.delete(name);
      }
    }
    await this.bus.close();
  }

  /** An enabled sync pointing at the stand-in, known to the service at once. */
  newSync(delivery: Partial<DeliverySettings> = {}, authorization = GOOD_AUTHORIZATION, patch: Partial<SyncSnapshot> = {}): SyncSnapshot {
    const sync: SyncSnapshot = {
      kind: 'sync',
      id: `sync-${++this.counter}-${randomBytes(2).toString('hex')}`,
      projectId: 'p1',
      name: 's',
      enabled: true,
      endpointUrl: `${this.endpoint}/behavioral/abc`,
      authorizationSealed: this.secrets.seal(authorization),
      sendEvents: true,
      eventFilters: [{ eventType: '*' }],
      eventProperties: [],
      sendUsers: false,
      userProperties: [],
      delivery: { ...DEFAULT_DELIVERY_SETTINGS, ...delivery },
      version: this.version++,
      deleted: false,
      updatedAt: '',
      ...patch,
    };
    this.config.apply(sync);
    return sync;
  }

  change(sync: SyncSnapshot, patch: Partial<SyncSnapshot>): SyncSnapshot {
    const next = { ...sync, ...patch, version: this.version++ };
    this.config.apply(next);
    return next;
  }

  /**
   * The per-payload outcomes of a sync found in the outcome stream (v2 aggregates' records and
   * samples), after sending what the publisher holds.
   */
  async outcomes(syncId: string): Promise<DeliveryOutcome[]> {
    return (await this.outcomeMessages(syncId)).flatMap(outcomesIn);
  }

  /** The outcome messages of a sync as they are in the stream, after sending what the publisher holds. */
  async outcomeMessages(syncId: string): Promise<OutcomeMessage[]> {
    await this.outcomePublisher?.flush();
    return this.read<OutcomeMessage>(this.topology.streams.outcomes.name, this.topology.subjects.outcome(syncId));
  }

  /**
   * Publishes a v1 job on the delivery subject of its sync and user's partition (or the one
   * given), deduplicated by its message id.
   */
  publishJob(job: DeliveryJob, options: PublishOptions & { partition?: number } = {}): ReturnType<Bus['js']['publish']> {
    const { partition = partitionOf(job.userKey), ...publish } = options;
    return this.bus.js.publish(this.topology.subjects.delivery(job.syncId, partition), encodeJson(job), { msgID: job.messageId, ...publish });
  }

  /**
   * Publishes `count` numbered payloads of a sync one after another: payload i has the id
   * `<sync>-m<i>`, the user `user-<i % users>` and the properties `{ seq: i, ...properties }`.
   */
  async enqueue(sync: SyncSnapshot, count: number, options: { users?: number; from?: number; properties?: Record<string, unknown> } = {}): Promise<DeliveryJob[]> {
    const { users = 4, from = 0, properties = {} } = options;
    const jobs: DeliveryJob[] = [];
    for (let i = from; i < from + count; i++) {
      const userKey = `user-${i % users}`;
      const job = deliveryJob(sync.id, userKey, trackPayload(userKey, `${sync.id}-m${i}`, { seq: i, ...properties }));
      await this.publishJob(job);
      jobs.push(job);
    }
    return jobs;
  }

  /** The message ids of a sync's payloads in the stand-in's 2xx answered requests, in order, repeats included. */
  deliveredIds(syncId: string): string[] {
    return this.standIn.requests
      .filter((r) => r.status !== undefined && r.status < 300)
      .flatMap((r) => payloadsOf(r.json))
      .map((p) => p.message_id as string)
      .filter((id) => id.startsWith(syncId));
  }

  /** The dead letters of a sync in the dead letter stream. */
  deadLetters(syncId: string): Promise<DeadLetter[]> {
    return this.read<DeadLetter>(this.topology.streams.deadLetters.name, this.topology.subjects.deadLetter(syncId));
  }

  /** Every message of a stream on one subject, without consuming it. */
  async read<T>(stream: string, subject: string): Promise<T[]> {
    const info = await this.bus.jsm.streams.info(stream);
    const out: T[] = [];
    for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
      const m = await this.bus.jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (m && m.subject === subject) out.push(decodeJson<T>(m.data));
    }
    return out;
  }

  /** A counter's value in the running service's metrics (0 when absent). */
  async metric(name: string, ...labels: string[]): Promise<number> {
    const text = await this.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.every((label) => l.includes(label)));
    return line ? Number(line.split(' ').pop()) : 0;
  }

  async queueEmpty(syncId: string): Promise<boolean> {
    const { jsm } = this.bus;
    const info = await jsm.consumers.info(this.topology.streams.delivery.name, this.topology.consumers.delivery(syncId).durable_name).catch(() => null);
    return !!info && info.num_pending === 0 && info.num_ack_pending === 0;
  }
}

/**
 * A harness for the tests of a describe block (call it in the block): opened before them and
 * closed after them, and unless `servicePerTest` is false the service (with a new stand-in)
 * started before each test and stopped after it. Each block has a namespace of its own.
 */
export function useDeliveryHarness(
  backoff: DurableBackoff,
  options: ConstructorParameters<typeof DeliveryHarness>[1] = {},
  { servicePerTest = true }: { servicePerTest?: boolean } = {},
): DeliveryHarness {
  const h = new DeliveryHarness(backoff, options);
  beforeAll(() => h.open());
  if (servicePerTest) {
    beforeEach(() => h.startService());
    afterEach(() => h.stopService());
  }
  afterAll(() => h.close());
  return h;
}

class FlakyAttemptStore extends AttemptStore {
  constructor(
    kv: KV,
    private readonly faults: { attemptWrites: number },
  ) {
    super(kv);
  }

  override async put(messageId: string, state: StoredAttempts): Promise<void> {
    if (this.faults.attemptWrites > 0) {
      this.faults.attemptWrites--;
      throw new Error('injected: attempts bucket unavailable');
    }
    return super.put(messageId, state);
  }
}

class FlakyOutcomePublisher extends OutcomePublisher {
  constructor(
    bus: Bus,
    topology: ReturnType<typeof createTopology>,
    logger: ReturnType<typeof createLogger>,
    private readonly faults: { deadLetterWrites: number; outcomeThrows: number },
  ) {
    super(bus, topology, logger);
  }

  override outcome(outcome: DeliveryOutcome): void {
    if (this.faults.outcomeThrows > 0) {
      this.faults.outcomeThrows--;
      throw new Error('injected: unexpected error');
    }
    super.outcome(outcome);
  }

  override async deadLetter(letter: DeadLetter): Promise<void> {
    if (this.faults.deadLetterWrites > 0) {
      this.faults.deadLetterWrites--;
      throw new Error('injected: dead letter stream unavailable');
    }
    return super.deadLetter(letter);
  }
}
