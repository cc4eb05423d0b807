import type { DeliveryJob, DeliveryOutcome, OutcomeResult, SyncSnapshot } from '@inkstream/contracts';
import {
  ACK_WAIT_MS,
  ConsumerRunner,
  KeyedLanes,
  decodeJson,
  declareConsumer,
  traceIdOf,
  type Bus,
  type JsMsg,
  type MsgHdrs,
  type Topology,
} from '@inkstream/bus';
import type { ResponseClass } from '@inkstream/movable-ink';
import type { SecretBox } from '@inkstream/secret-box';
import type { Logger } from '@inkstream/service-kit';
import { annotateActiveSpan, traceBatchProcess, traceProcess } from '@inkstream/telemetry';
import { AimdConcurrency } from './aimd.js';
import type { AttemptStore, StoredAttempts } from './attempt-store.js';
import { Batcher } from './batcher.js';
import type { HttpSender } from '@inkstream/movable-ink';
import { statusClass, type DeliveryMetrics } from './metrics.js';
import type { OutcomePublisher } from './outcome-publisher.js';
import { decide } from './retry-policy.js';
import type { DurableBackoff } from './backoff.js';
import { Semaphore } from './semaphore.js';
import { Transmitter, type Target, type Transmission, type TryReport } from './transmitter.js';
import { UserBarrier } from './user-barrier.js';

export interface SyncDeliveryDeps {
  bus: Bus;
  topology: Topology;
  sender: HttpSender;
  secrets: SecretBox;
  metrics: DeliveryMetrics;
  logger: Logger;
  attempts: AttemptStore;
  outcomes: OutcomePublisher;
  /** Durable retry backoff (base doubling to cap, full jitter). */
  backoff: DurableBackoff;
}

/** Span attributes of a payload's delivery: what was decided after the attempt. */
const ATTR_DECISION = 'inkstream.delivery.decision';
const ATTR_ATTEMPTS = 'inkstream.delivery.attempts';
const ATTR_RETRY_DELAY = 'inkstream.delivery.retry_delay_ms';

const RESULT_OF: Record<ResponseClass['kind'], OutcomeResult> = {
  delivered: 'delivered',
  retry: 'retry',
  throttled: 'throttled',
  failing: 'failing',
  'too-large': 'rejected',
  rejected: 'rejected',
};

/**
 * Delivery of one sync (spec/pipeline.md, delivery): its own durable consumer, concurrency
 * (AIMD on 429) and metrics, so a slow or failing endpoint never holds up another sync. A
 * payload leaves the delivery stream only when delivered or stored as a dead letter.
 *
 * Tracing: a payload sent alone is delivered in a span of the trace its event started (the
 * context is in the message headers, which survive a nak, so every retry joins that trace); a
 * batch request gets a span of its own with a link to each payload's trace. The HTTP client
 * spans of the requests are children of those.
 */
export class SyncDelivery {
  private runner: ConsumerRunner | undefined;
  private readonly lanes = new KeyedLanes();
  private readonly barrier = new UserBarrier();
  private readonly semaphore: Semaphore;
  private readonly aimd: AimdConcurrency;
  private readonly transmitter: Transmitter;
  private readonly batcher: Batcher;
  private authorization: { sealed: string; header: string } | undefined;
  /** While set, payloads are put back without an attempt (429 Retry-After, failing endpoint). */
  private pausedUntil = 0;
  /** Attempt numbers already used by each payload in flight, and its trace, for outcomes and spans. */
  private readonly attemptBase = new Map<string, { base: number; traceId: string | undefined; headers: MsgHdrs | undefined }>();
  private readonly log: Logger;
  private readonly durable: string;

  constructor(
    private readonly deps: SyncDeliveryDeps,
    private sync: SyncSnapshot,
  ) {
    this.aimd = new AimdConcurrency(sync.delivery.maxConcurrency);
    this.semaphore = new Semaphore(this.aimd.limit);
    this.log = deps.logger.child({ sync: sync.id });
    this.durable = deps.topology.consumers.delivery(sync.id).durable_name;
    this.transmitter = new Transmitter(
      deps.sender,
      this.semaphore,
      (report) => this.onTry(report),
      (job) => this.attemptBase.get(job.messageId)?.base ?? 0,
    );
    this.batcher = new Batcher(
      () => ({ batchSize: this.sync.delivery.batchSize, maxRequestBytes: this.sync.delivery.maxRequestBytes, lingerMs: 1_000 }),
      (jobs) => this.sendBatch(jobs),
    );
  }

  get id(): string {
    return this.sync.id;
  }

  /** The durable consumer of this sync, for the lag gauge. */
  get consumer(): { stream: string; durable: string } {
    return { stream: this.deps.topology.streams.delivery.name, durable: this.durable };
  }

  get concurrencyLimit(): number {
    return this.aimd.limit;
  }

  update(sync: SyncSnapshot): void {
    const credentialsChanged =
      sync.endpointUrl !== this.sync.endpointUrl || sync.authorizationSealed !== this.sync.authorizationSealed;
    this.sync = sync;
    this.aimd.setMax(sync.delivery.maxConcurrency);
    this.setLimit(this.aimd.limit);
    // A fixed endpoint or credential is tried at once instead of at the next probe.
    if (credentialsChanged) this.pausedUntil = 0;
  }

  async start(): Promise<void> {
    const { bus, topology } = this.deps;
    const { batchSize, maxConcurrency } = this.sync.delivery;
    const maxAckPending = Math.min(20_000, Math.max(256, batchSize * maxConcurrency * 2));
    const consumer = topology.consumers.delivery(this.sync.id, maxAckPending);
    await declareConsumer(bus.jsm, topology.streams.delivery.name, consumer);
    this.setLimit(this.aimd.limit);
    this.runner = new ConsumerRunner({
      js: bus.js,
      stream: topology.streams.delivery.name,
      durable: consumer.durable_name,
      maxMessages: Math.min(maxAckPending, Math.max(32, batchSize * maxConcurrency)),
      logger: this.log,
      onMessage: (msg) => this.onMessage(msg),
      // A crashed owner's in-flight payloads come back before anything newer of their users.
      ...(this.sync.delivery.preserveUserOrder ? { awaitForeignAcksMs: ACK_WAIT_MS + 5_000 } : {}),
    });
    this.runner.start();
  }

  async stop(): Promise<void> {
    this.batcher.flush();
    await this.runner?.stop();
  }

  get inFlight(): number {
    return this.semaphore.inFlight;
  }

  private setLimit(limit: number): void {
    this.semaphore.setLimit(limit);
  }

  private target(): Target {
    const sealed = this.sync.authorizationSealed;
    if (this.authorization?.sealed !== sealed) this.authorization = { sealed, header: this.deps.secrets.open(sealed) };
    return {
      endpointUrl: this.sync.endpointUrl,
      authorization: this.authorization.header,
      requestTimeoutMs: this.sync.delivery.requestTimeoutMs,
    };
  }

  private onMessage(msg: JsMsg): Promise<void> {
    let job: DeliveryJob;
    try {
      job = decodeJson<DeliveryJob>(msg.data);
    } catch (err) {
      this.log.error({ seq: msg.seq, err: String(err) }, 'unreadable delivery job terminated');
      msg.term('unreadable');
      return Promise.resolve();
    }
    if (this.sync.delivery.preserveUserOrder) return this.lanes.run(job.userKey, () => this.handle(msg, job));
    return this.handle(msg, job);
  }

  private async handle(msg: JsMsg, job: DeliveryJob): Promise<void> {
    const now = Date.now();
    const { metrics } = this.deps;
    if (this.pausedUntil > now) {
      msg.nak(this.pausedUntil - now + Math.floor(Math.random() * 1_000));
      metrics.payloads.inc({ sync: this.sync.id, result: 'held' });
      return;
    }
    if (this.sync.delivery.preserveUserOrder) {
      const blocked = this.barrier.blockedUntil(job.userKey, now);
      if (blocked !== undefined) {
        msg.nak(blocked - now + 50);
        metrics.payloads.inc({ sync: this.sync.id, result: 'held' });
        return;
      }
    }
    try {
      this.target();
    } catch (err) {
      this.log.error({ err: String(err) }, 'cannot decrypt the sync authorization (is SECRET_KEY the config service one?)');
      msg.nak(60_000);
      return;
    }
    // Held payloads above make no span: a long outage would otherwise add one per redelivery.
    if (this.sync.delivery.batchSize > 1) return this.deliver(msg, job);
    return traceProcess(
      {
        subject: msg.subject,
        template: this.deps.topology.subjectTemplates.delivery,
        consumer: this.durable,
        headers: msg.headers,
        messageId: job.messageId,
        deliveryCount: msg.info.deliveryCount,
      },
      () => this.deliver(msg, job),
    );
  }

  /** One request for several payloads: a span of its own, linked to each payload's trace. */
  private sendBatch(jobs: DeliveryJob[]): Promise<Transmission[]> {
    const { topology } = this.deps;
    return traceBatchProcess(
      {
        subject: topology.subjects.deliveryOfSync(this.sync.id),
        template: topology.subjectTemplates.delivery,
        consumer: this.durable,
        headers: jobs.map((job) => this.attemptBase.get(job.messageId)?.headers),
      },
      () => this.transmitter.send(jobs, () => this.target()),
    );
  }

  private async deliver(msg: JsMsg, job: DeliveryJob): Promise<void> {
    const now = Date.now();
    const { metrics } = this.deps;
    const stored = msg.info.deliveryCount > 1 ? await this.deps.attempts.get(job.messageId) : undefined;
    const firstAttemptAt = stored?.firstAttemptAt ?? now;
    const windowMs = this.sync.delivery.retryWindowSeconds * 1000;
    const traceId = traceIdOf(msg.headers);
    if (stored && now - firstAttemptAt >= windowMs) {
      annotateActiveSpan({ [ATTR_DECISION]: 'dead-letter', [ATTR_ATTEMPTS]: stored.attempts }, 'dead-lettered: expired');
      await this.deadLetter(msg, job, 'expired', stored, traceId);
      return;
    }

    this.attemptBase.set(job.messageId, { base: stored?.attempts ?? 0, traceId, headers: msg.headers });
    let transmission: Transmission;
    try {
      transmission =
        this.sync.delivery.batchSize > 1
          ? await this.batcher.submit(job)
          : (await this.transmitter.send([job], () => this.target()))[0]!;
    } finally {
      this.attemptBase.delete(job.messageId);
    }

    const { verdict, result, tries } = transmission;
    const attempts = (stored?.attempts ?? 0) + (verdict.kind === 'throttled' ? 0 : tries);
    const after = Date.now();
    const decision = decide(verdict, { attempts, firstAttemptAt }, windowMs, after, Math.random, this.deps.backoff);
    annotateActiveSpan(
      { [ATTR_DECISION]: decision.action, [ATTR_ATTEMPTS]: attempts, ...(decision.action === 'retry' ? { [ATTR_RETRY_DELAY]: decision.delayMs } : {}) },
      decision.action === 'dead-letter' ? `dead-lettered: ${decision.reason}` : undefined,
    );
    const state: StoredAttempts = {
      attempts,
      firstAttemptAt,
      lastAttemptAt: after,
      ...(result.status !== undefined ? { lastStatus: result.status } : {}),
      lastError: result.responseExcerpt,
    };

    if (verdict.kind === 'throttled') {
      this.setLimit(this.aimd.onThrottled(after));
      if (verdict.retryAfterMs !== undefined) this.pausedUntil = Math.max(this.pausedUntil, after + verdict.retryAfterMs);
    } else if (verdict.kind === 'delivered') {
      this.setLimit(this.aimd.onSuccess(after));
    }

    switch (decision.action) {
      case 'ack':
        msg.ack();
        this.barrier.clear(job.userKey);
        if (stored) void this.deps.attempts.forget(job.messageId).catch(() => undefined);
        metrics.payloads.inc({ sync: this.sync.id, result: 'delivered' });
        metrics.latency.observe({ sync: this.sync.id }, Math.max(0, after - job.receivedAt) / 1000);
        return;
      case 'retry':
        if (verdict.kind === 'failing') this.pausedUntil = Math.max(this.pausedUntil, after + decision.delayMs);
        await this.deps.attempts.put(job.messageId, state);
        if (this.sync.delivery.preserveUserOrder) this.barrier.block(job.userKey, after + decision.delayMs);
        msg.nak(decision.delayMs);
        metrics.payloads.inc({ sync: this.sync.id, result: 'retry_scheduled' });
        return;
      case 'dead-letter':
        await this.deadLetter(msg, job, decision.reason, state, traceId);
        return;
    }
  }

  private onTry({ job, result, verdict, tryNumber }: TryReport): void {
    const attempt = (this.attemptBase.get(job.messageId)?.base ?? 0) + tryNumber;
    const traceId = this.attemptBase.get(job.messageId)?.traceId;
    this.deps.metrics.attempts.inc({ sync: this.sync.id, status_class: statusClass(result.status) });
    const delivered = verdict.kind === 'delivered';
    this.log.info(
      {
        messageId: job.messageId,
        type: job.payloadType,
        attempt,
        status: result.status,
        outcome: verdict.kind,
        ms: result.latencyMs,
        ...(delivered ? {} : { error: result.responseExcerpt.slice(0, 200) }),
      },
      'attempt',
    );
    this.publishOutcome(job, RESULT_OF[verdict.kind], attempt, traceId, {
      ...(result.status !== undefined ? { status: result.status } : {}),
      requestMs: result.latencyMs,
      ...(delivered
        ? {}
        : {
            error: result.error ? result.responseExcerpt : `HTTP ${result.status}`,
            responseBody: result.error ? '' : result.responseExcerpt,
          }),
      ...(result.requestId ? { requestId: result.requestId } : {}),
    });
  }

  private publishOutcome(
    job: DeliveryJob,
    result: OutcomeResult,
    attempt: number,
    traceId: string | undefined,
    extra: Partial<DeliveryOutcome> = {},
  ): void {
    this.deps.outcomes.outcome({
      v: 1,
      syncId: job.syncId,
      messageId: job.messageId,
      payloadType: job.payloadType,
      result,
      attempt,
      at: Date.now(),
      receivedAt: job.receivedAt,
      ...(traceId ? { traceId } : {}),
      ...extra,
    });
  }

  private async deadLetter(
    msg: JsMsg,
    job: DeliveryJob,
    reason: 'rejected' | 'expired' | 'too large' | 'sync deleted',
    state: StoredAttempts | undefined,
    traceId: string | undefined,
  ): Promise<void> {
    const deadAt = Date.now();
    await this.deps.outcomes.deadLetter({
      v: 1,
      job,
      reason,
      attempts: state?.attempts ?? 0,
      deadAt,
      ...(state?.lastStatus !== undefined ? { lastStatus: state.lastStatus } : {}),
      ...(state?.lastError !== undefined ? { lastResponse: state.lastError } : {}),
      ...(state?.firstAttemptAt !== undefined ? { firstAttemptAt: state.firstAttemptAt } : {}),
      ...(state?.lastAttemptAt !== undefined ? { lastAttemptAt: state.lastAttemptAt } : {}),
      ...(traceId ? { traceId } : {}),
    });
    msg.ack();
    this.barrier.clear(job.userKey);
    void this.deps.attempts.forget(job.messageId).catch(() => undefined);
    if (reason === 'expired' || reason === 'sync deleted') {
      this.publishOutcome(job, reason === 'expired' ? 'expired' : 'dropped', state?.attempts ?? 0, traceId, { reason });
    }
    this.deps.metrics.payloads.inc({ sync: this.sync.id, result: 'dead_lettered' });
    this.deps.metrics.deadLetters.inc({ sync: this.sync.id, reason });
  }

  /**
   * For a deleted sync: every payload still queued becomes a dead letter with reason
   * `sync deleted`, then the consumer is removed. Resolves when the queue is empty.
   */
  async drainToDeadLetters(): Promise<number> {
    const { bus, topology } = this.deps;
    const stream = topology.streams.delivery.name;
    const consumer = topology.consumers.delivery(this.sync.id);
    await declareConsumer(bus.jsm, stream, consumer);
    let drained = 0;
    const c = await bus.js.consumers.get(stream, consumer.durable_name);
    for (;;) {
      const batch = await c.fetch({ max_messages: 256, expires: 2_000 });
      let got = 0;
      for await (const msg of batch) {
        got++;
        let job: DeliveryJob;
        try {
          job = decodeJson<DeliveryJob>(msg.data);
        } catch {
          msg.term('unreadable');
          continue;
        }
        const stored = await this.deps.attempts.get(job.messageId).catch(() => undefined);
        await this.deadLetter(msg, job, 'sync deleted', stored, traceIdOf(msg.headers));
        drained++;
      }
      if (got === 0) {
        const info = await c.info();
        if (info.num_pending === 0 && info.num_ack_pending === 0) break;
      }
    }
    await bus.jsm.consumers.delete(stream, consumer.durable_name).catch(() => undefined);
    return drained;
  }
}
