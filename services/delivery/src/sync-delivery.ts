import { setMaxListeners } from 'node:events';
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
import { requestHeaders, type ResponseClass } from '@inkstream/movable-ink';
import type { SecretBox } from '@inkstream/secret-box';
import type { Logger } from '@inkstream/service-kit';
import { annotateActiveSpan, traceBatchProcess, traceProcess } from '@inkstream/telemetry';
import { AimdConcurrency } from './aimd.js';
import type { AttemptStore, StoredAttempts } from './attempt-store.js';
import { QUICK_TRIES } from './backoff.js';
import { Batcher } from './batcher.js';
import { DeliverySummary, SUMMARY_INTERVAL_MS } from './delivery-summary.js';
import { durably, sleepUnlessAborted } from './durably.js';
import type { HttpSender, SendResult } from '@inkstream/movable-ink';
import { statusClass, type DeliveryMetrics, type FoldedCount } from './metrics.js';
import type { OutcomePublisher } from './outcome-publisher.js';
import { decide, throttleBackoffOf, throttleDelayMs } from './retry-policy.js';
import type { DurableBackoff } from './backoff.js';
import { SendGate, type GateState } from './send-gate.js';
import { Semaphore } from './semaphore.js';
import { Transmitter, type Target, type Transmission, type TryReport } from './transmitter.js';

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
  /** How often each sync writes its `delivery summary` line at info. Default 10 s. */
  summaryIntervalMs?: number;
}

/** Span attributes of a payload's delivery: what was decided after the attempt. */
const ATTR_DECISION = 'inkstream.delivery.decision';
const ATTR_ATTEMPTS = 'inkstream.delivery.attempts';
const ATTR_RETRY_DELAY = 'inkstream.delivery.retry_delay_ms';

/** How long a new owner holds messages back at most while the previous owner's come back. */
export const RESTORE_ORDER_LIMIT_MS = 2 * ACK_WAIT_MS + 5_000;

const RESULT_OF: Record<ResponseClass['kind'], OutcomeResult> = {
  delivered: 'delivered',
  retry: 'retry',
  throttled: 'throttled',
  failing: 'failing',
  'too-large': 'discarded',
  rejected: 'rejected',
};

type DeadLetterReason = 'rejected' | 'expired' | 'too large' | 'sync deleted';

/**
 * Delivery of one sync (spec/pipeline.md, delivery): its own durable consumer, concurrency
 * (AIMD on 429), send gate and metrics, so a slow or failing endpoint never holds up another
 * sync. A payload leaves the delivery stream only when delivered or stored as a dead letter.
 *
 * Order (`preserveUserOrder`): a payload is acknowledged only once it is settled (delivered,
 * dead-lettered, discarded), and a user's payloads are handled one after another in stream
 * order, so a user has at most one request in flight and a payload waiting for its retry holds
 * the user's later payloads behind it — unacknowledged, in JetStream. What that rests on is
 * durable: the stream order of the messages (a new owner, after a crash or hand-over, restores
 * it before sending anything: see ConsumerRunner.restoreOrderMs) and the retry state of every
 * payload that failed (attempts, first attempt, next attempt time, in the attempts bucket), read
 * by the same code whether the message comes back after a crash or not.
 *
 * Pauses (Retry-After, a failing endpoint) are the sync's send gate: nothing is sent, payloads
 * stay where they are, in order; a failing sync lets one probe through at a time.
 *
 * Tracing: a payload sent alone is delivered in a span of the trace its event started (the
 * context is in the message headers, so every retry joins that trace); a batch request gets a
 * span of its own with a link to each payload's trace. The HTTP client spans are children.
 */
export class SyncDelivery {
  private runner: ConsumerRunner | undefined;
  private readonly lanes = new KeyedLanes();
  private readonly gate = new SendGate();
  private readonly stopping = new AbortController();
  private readonly semaphore: Semaphore;
  private readonly aimd: AimdConcurrency;
  private readonly transmitter: Transmitter;
  private readonly batcher: Batcher;
  /** The request target of the current configuration (endpoint parsed, authorization opened). */
  private current: { sealed: string; endpointUrl: string; requestTimeoutMs: number; target: Target } | undefined;
  private readonly summary: DeliverySummary;
  /** Pauses for 429s in a row (no delivery between): the exponent of the throttle backoff. */
  private throttleStreak = 0;
  /** When the last 429 pause began: 429s to requests sent before it belong to that pause. */
  private lastThrottleAt = Number.NEGATIVE_INFINITY;
  /** Attempt numbers already used by each payload in flight, and its trace, for outcomes and spans. */
  private readonly attemptBase = new Map<string, { base: number; traceId: string | undefined; headers: MsgHdrs | undefined }>();
  private readonly log: Logger;
  private readonly durable: string;
  /** `{ sync }`, the latency histogram's labels, made once. */
  private readonly syncLabels: { sync: string };
  /** This sync's payload counts by result (folded into the payloads counter when scraped). */
  private readonly counts: Record<'delivered' | 'discarded' | 'retry_scheduled' | 'throttled' | 'dead_lettered', FoldedCount>;
  /** This sync's attempt counts by status class. */
  private readonly attemptCounts = new Map<string, FoldedCount>();

  constructor(
    private readonly deps: SyncDeliveryDeps,
    private sync: SyncSnapshot,
  ) {
    this.aimd = new AimdConcurrency(sync.delivery.maxConcurrency);
    this.semaphore = new Semaphore(this.aimd.limit);
    this.log = deps.logger.child({ sync: sync.id });
    // Every payload waiting (at the gate, for its retry) listens for the stop: as many as the
    // sync holds, each removed when it moves on — not a leak.
    setMaxListeners(0, this.stopping.signal);
    this.summary = new DeliverySummary(this.log, deps.summaryIntervalMs ?? SUMMARY_INTERVAL_MS);
    this.durable = deps.topology.consumers.delivery(sync.id).durable_name;
    this.syncLabels = { sync: sync.id };
    const payloadCount = (result: string) => deps.metrics.folded.payload(sync.id, result);
    this.counts = {
      delivered: payloadCount('delivered'),
      discarded: payloadCount('discarded'),
      retry_scheduled: payloadCount('retry_scheduled'),
      throttled: payloadCount('throttled'),
      dead_lettered: payloadCount('dead_lettered'),
    };
    this.transmitter = new Transmitter(
      deps.sender,
      this.semaphore,
      (report) => this.onTry(report),
      (job) => this.attemptBase.get(job.messageId)?.base ?? 0,
      undefined,
      {
        enter: () => this.gate.enter(this.stopping.signal),
        answered: (verdict, probe, sentAt, result) => {
          this.summary.request(result.status, result.latencyMs, verdict.kind === 'delivered' ? undefined : describeFailure(result));
          this.onAnswer(verdict, probe, sentAt);
        },
        abandoned: (probe) => {
          if (probe) this.gate.probeAbandoned();
        },
      },
    );
    this.batcher = new Batcher(
      () => ({ batchSize: this.sync.delivery.batchSize, maxRequestBytes: this.sync.delivery.maxRequestBytes, lingerMs: 1_000 }),
      (jobs, jsons) => this.sendBatch(jobs, jsons),
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

  /** True while the sync's endpoint refused its credentials (401/403/404) and it is probing. */
  get failing(): boolean {
    return this.gate.snapshot.failing;
  }

  update(sync: SyncSnapshot): void {
    const endpointChanged =
      sync.endpointUrl !== this.sync.endpointUrl || sync.authorizationSealed !== this.sync.authorizationSealed;
    this.sync = sync;
    this.aimd.setMax(sync.delivery.maxConcurrency);
    this.semaphore.setLimit(this.aimd.limit);
    // A fixed endpoint or credential is probed at once instead of at the next probe time.
    if (endpointChanged) this.gate.endpointChanged();
  }

  async start(): Promise<void> {
    const { bus, topology } = this.deps;
    const { batchSize, maxConcurrency } = this.sync.delivery;
    const maxAckPending = Math.min(20_000, Math.max(1_024, batchSize * maxConcurrency * 4));
    const consumer = topology.consumers.delivery(this.sync.id, maxAckPending);
    await declareConsumer(bus.jsm, topology.streams.delivery.name, consumer);
    this.semaphore.setLimit(this.aimd.limit);
    this.runner = new ConsumerRunner({
      js: bus.js,
      stream: topology.streams.delivery.name,
      durable: consumer.durable_name,
      maxMessages: Math.min(maxAckPending, Math.max(64, batchSize * maxConcurrency * 2)),
      logger: this.log,
      onMessage: (msg) => this.onMessage(msg),
      // A previous owner's unacknowledged payloads are handled before anything newer.
      ...(this.sync.delivery.preserveUserOrder ? { restoreOrderMs: RESTORE_ORDER_LIMIT_MS } : {}),
    });
    this.runner.start();
    this.summary.start();
  }

  /**
   * Stops at once: no new request starts; payloads waiting (for a retry, behind their user, at
   * the gate) are given back to JetStream unacknowledged, and the next owner restores their
   * order. Resolves when requests in flight have been answered and settled.
   */
  async stop(): Promise<void> {
    const runnerStopped = this.runner?.stop();
    this.stopping.abort();
    this.gate.close();
    this.batcher.flush();
    await runnerStopped;
    this.flushAcks();
    this.summary.stop();
  }

  /** Acks waiting for the end of this turn of the event loop. */
  private acks: JsMsg[] = [];
  private acksScheduled = false;

  /**
   * Acks a settled payload at the end of this turn of the event loop, with every other payload
   * settled in it, so the client writes them to the socket together instead of one write per
   * answer. An ack is fire-and-forget either way (JetStream does not confirm it); a crash before
   * it is written repeats the payload, like a crash just after a 2xx always could.
   */
  private ack(msg: JsMsg): void {
    this.acks.push(msg);
    if (!this.acksScheduled) {
      this.acksScheduled = true;
      setImmediate(this.flushAcks);
    }
  }

  private readonly flushAcks = (): void => {
    this.acksScheduled = false;
    const acks = this.acks;
    if (acks.length === 0) return;
    this.acks = [];
    for (const msg of acks) msg.ack();
  };

  get inFlight(): number {
    return this.semaphore.inFlight;
  }

  /**
   * Where requests go, built once per configuration: the endpoint URL parsed and checked, the
   * authorization opened, the headers made; every request of that configuration shares them.
   */
  private target(): Target {
    const { authorizationSealed: sealed, endpointUrl } = this.sync;
    const { requestTimeoutMs } = this.sync.delivery;
    const current = this.current;
    if (current && current.sealed === sealed && current.endpointUrl === endpointUrl && current.requestTimeoutMs === requestTimeoutMs) {
      return current.target;
    }
    const authorization = current?.sealed === sealed ? current.target.headers.authorization! : this.deps.secrets.open(sealed);
    const target: Target = { endpoint: this.deps.sender.endpoint(endpointUrl), headers: requestHeaders(authorization), requestTimeoutMs };
    this.current = { sealed, endpointUrl, requestTimeoutMs, target };
    return target;
  }

  private onMessage(msg: JsMsg): Promise<void> {
    if (this.stopping.signal.aborted) {
      msg.nak();
      return Promise.resolve();
    }
    let job: DeliveryJob;
    try {
      job = decodeJson<DeliveryJob>(msg.data);
    } catch (err) {
      this.log.error({ seq: msg.seq, err: String(err) }, 'unreadable delivery job terminated');
      msg.term('unreadable');
      return Promise.resolve();
    }
    if (this.sync.delivery.preserveUserOrder) return this.lanes.run(job.userKey, () => this.settle(msg, job));
    return this.settle(msg, job);
  }

  /**
   * Handles a payload until it is settled or given back. An unexpected error does not let the
   * user's lane move on with the payload neither acked nor given back: it is handled again.
   */
  private async settle(msg: JsMsg, job: DeliveryJob): Promise<void> {
    for (;;) {
      try {
        await this.handle(msg, job);
        return;
      } catch (err) {
        this.log.error({ messageId: job.messageId, err: String(err) }, 'delivering a payload failed unexpectedly; trying again');
        if (!(await sleepUnlessAborted(1_000, this.stopping.signal))) return this.giveBack(msg);
      }
    }
  }

  /** Gives a payload back to JetStream (stopping): the next owner handles it, in order. */
  private giveBack(msg: JsMsg): void {
    msg.nak();
  }

  /**
   * One payload, from its first try to settled: tries, waits for its retries (holding its user's
   * later payloads behind it), and is acked only when delivered, discarded or dead-lettered.
   */
  private async handle(msg: JsMsg, job: DeliveryJob): Promise<void> {
    const signal = this.stopping.signal;
    const { metrics, attempts } = this.deps;
    const traceId = traceIdOf(msg.headers);
    // Only a payload that came back can have retry state: the happy path reads nothing.
    let state: StoredAttempts | undefined;
    if (msg.info.redelivered) {
      const read = await durably(() => attempts.get(job.messageId), signal, this.log, 'reading retry state');
      if (!read.ok) return this.giveBack(msg);
      state = read.value;
    }
    try {
      this.target();
    } catch (err) {
      // Not a property of the payload: hold it (and its user) until the key is right.
      this.log.error({ err: String(err) }, 'cannot decrypt the sync authorization (is SECRET_KEY the config service one?)');
      await sleepUnlessAborted(60_000, signal);
      return this.giveBack(msg);
    }
    for (;;) {
      const windowMs = this.sync.delivery.retryWindowSeconds * 1000;
      if (state && Date.now() - state.firstAttemptAt >= windowMs) {
        await this.deadLetter(msg, job, 'expired', state, traceId);
        return;
      }
      if (state?.nextAttemptAt !== undefined && state.nextAttemptAt > Date.now()) {
        if (!(await sleepUnlessAborted(state.nextAttemptAt - Date.now(), signal))) return this.giveBack(msg);
        continue;
      }
      const { transmission, decision } = await this.transmitOne(msg, job, state, traceId);
      if (transmission.aborted) return this.giveBack(msg);
      const { verdict, result, tries } = transmission;
      const after = Date.now();

      switch (decision.action) {
        case 'ack':
          this.ack(msg);
          if (state) void attempts.forget(job.messageId).catch(() => undefined);
          this.counts.delivered.n++;
          metrics.latency.observe(this.syncLabels, Math.max(0, after - job.receivedAt) / 1000);
          this.summary.payload('delivered', Math.max(0, after - job.receivedAt));
          return;
        case 'discard':
          // spec: a single payload refused with 413 is discarded (counted, not dead-lettered).
          this.ack(msg);
          if (state) void attempts.forget(job.messageId).catch(() => undefined);
          this.counts.discarded.n++;
          this.summary.payload('discarded');
          return;
        case 'dead-letter': {
          const attemptsSoFar = (state?.attempts ?? 0) + tries;
          await this.deadLetter(msg, job, decision.reason, this.stateAfter(state, attemptsSoFar, after, result, after), traceId);
          return;
        }
        case 'retry': {
          const counted = (state?.attempts ?? 0) + (decision.countsAttempt ? tries : 0);
          const next = this.stateAfter(state, counted, after, result, after + decision.delayMs);
          // The retry state is stored before the payload waits: a crash from here on resumes it.
          const stored = await durably(() => attempts.put(job.messageId, next), signal, this.log, 'storing retry state');
          if (!stored.ok) return this.giveBack(msg);
          state = next;
          const scheduled = verdict.kind === 'throttled' ? 'throttled' : 'retry_scheduled';
          this.counts[scheduled].n++;
          this.summary.payload(scheduled);
          continue;
        }
      }
    }
  }

  private stateAfter(
    state: StoredAttempts | undefined,
    attempts: number,
    at: number,
    result: Transmission['result'],
    nextAttemptAt: number,
  ): StoredAttempts {
    return {
      attempts,
      firstAttemptAt: state?.firstAttemptAt ?? at - result.latencyMs,
      lastAttemptAt: at,
      nextAttemptAt,
      ...(result.status !== undefined ? { lastStatus: result.status } : {}),
      lastError: result.responseExcerpt,
    };
  }

  /**
   * One transmission of a payload (its quick tries, or one durable retry), in a span of the
   * payload's trace (batching syncs: in the batch's span), with what the policy decides.
   */
  private async transmitOne(
    msg: JsMsg,
    job: DeliveryJob,
    state: StoredAttempts | undefined,
    traceId: string | undefined,
  ): Promise<{ transmission: Transmission; decision: ReturnType<typeof decide> }> {
    const run = async (recording: boolean) => {
      this.attemptBase.set(job.messageId, { base: state?.attempts ?? 0, traceId, headers: msg.headers });
      let transmission: Transmission;
      try {
        transmission =
          this.sync.delivery.batchSize > 1
            ? await this.batcher.submit(job)
            : (await this.transmitter.send([job], this.targetOf, { tries: state ? 1 : QUICK_TRIES, batched: false, recording }))[0]!;
      } finally {
        this.attemptBase.delete(job.messageId);
      }
      const { verdict, tries, result } = transmission;
      const after = Date.now();
      if (transmission.aborted) return { transmission, decision: { action: 'retry' as const, delayMs: 0, countsAttempt: false } };
      // A 429 holds the payload as long as it holds the sync (the gate's pause).
      const throttleMs = verdict.kind === 'throttled' ? Math.max(1, this.gate.snapshot.pausedUntil - after) : undefined;
      const counted = (state?.attempts ?? 0) + (verdict.kind === 'throttled' ? 0 : tries);
      const firstAttemptAt = state?.firstAttemptAt ?? after - result.latencyMs;
      const decision = decide(
        verdict,
        { attempts: counted, firstAttemptAt },
        this.sync.delivery.retryWindowSeconds * 1000,
        after,
        Math.random,
        this.deps.backoff,
        Math.max(1, this.throttleStreak),
      );
      // The payload itself waits at least as long as the sync's pause.
      const final =
        decision.action === 'retry' && throttleMs !== undefined
          ? { ...decision, delayMs: Math.max(1, Math.min(throttleMs, this.sync.delivery.retryWindowSeconds * 1000 - (after - firstAttemptAt))) }
          : decision;
      if (recording) {
        annotateActiveSpan(
          { [ATTR_DECISION]: final.action, [ATTR_ATTEMPTS]: counted, ...(final.action === 'retry' ? { [ATTR_RETRY_DELAY]: final.delayMs } : {}) },
          final.action === 'dead-letter' ? `dead-lettered: ${final.reason}` : undefined,
        );
      }
      if (final.action === 'discard') {
        this.publishOutcome(job, 'discarded', counted, traceId, {
          reason: final.reason,
          ...(result.status !== undefined ? { status: result.status } : {}),
        });
      }
      return { transmission, decision: final };
    };
    // A batched payload's span is its batch's (sendBatch); its decision is on its own trace's outcome.
    if (this.sync.delivery.batchSize > 1) return run(false);
    return traceProcess(
      {
        subject: msg.subject,
        template: this.deps.topology.subjectTemplates.delivery,
        consumer: this.durable,
        headers: msg.headers,
        messageId: job.messageId,
        deliveryCount: msg.info.deliveryCount,
      },
      (span) => run(span.isRecording()),
    );
  }

  private readonly targetOf = (): Target => this.target();


  /** One request for several payloads: a span of its own, linked to each payload's trace. */
  private sendBatch(jobs: DeliveryJob[], jsons: string[]): Promise<Transmission[]> {
    const { topology } = this.deps;
    const firstTransmission = jobs.every((job) => (this.attemptBase.get(job.messageId)?.base ?? 0) === 0);
    return traceBatchProcess(
      {
        subject: topology.subjects.deliveryOfSync(this.sync.id),
        template: topology.subjectTemplates.delivery,
        consumer: this.durable,
        headers: jobs.map((job) => this.attemptBase.get(job.messageId)?.headers),
      },
      (span) =>
        this.transmitter.send(jobs, this.targetOf, { tries: firstTransmission ? QUICK_TRIES : 1, batched: true, recording: span.isRecording() }, jsons),
    );
  }

  /**
   * Every answer, once per request: AIMD, the 429 backoff streak and the gate (pause, failing,
   * probe). Concurrent 429s are one signal, like AIMD: only a 429 to a request sent after the
   * last pause began makes the streak (and the next pause) longer.
   */
  private onAnswer(verdict: ResponseClass, probe: boolean, sentAt: number): void {
    const now = Date.now();
    const before = this.gate.snapshot;
    let throttleMs: number | undefined;
    if (verdict.kind === 'throttled') {
      this.semaphore.setLimit(this.aimd.onThrottled(now, sentAt));
      if (sentAt >= this.lastThrottleAt) {
        this.throttleStreak++;
        this.lastThrottleAt = now;
      }
      throttleMs = throttleDelayMs(verdict.retryAfterMs, this.throttleStreak, Math.random, throttleBackoffOf(this.deps.backoff));
    } else if (verdict.kind === 'delivered') {
      this.throttleStreak = 0;
      this.semaphore.setLimit(this.aimd.onSuccess(now));
    }
    this.gate.answered(verdict.kind, probe, throttleMs);
    this.logStateChange(before, this.gate.snapshot, verdict, probe, now);
  }

  /** Set while a 429 pause was logged and no request was answered 2xx since. */
  private pausedSince: number | undefined;

  /** The sync's state changes, one line each: paused (429), failing, each probe's answer, resumed. */
  private logStateChange(before: GateState, after: GateState, verdict: ResponseClass, probe: boolean, now: number): void {
    if (!before.failing && after.failing) {
      this.log.warn({ outcome: verdict.kind }, 'sync failing: the endpoint refused the credentials (401/403/404); probing every 30 s');
    } else if (before.failing && after.failing && probe) {
      this.log.info({ nextProbeInMs: Math.max(0, after.nextProbeAt - now) }, 'sync failing: probe request refused again');
    } else if (before.failing && !after.failing) {
      this.log.info({ probe, outcome: verdict.kind }, probe ? 'sync resumed: probe request accepted' : 'sync resumed: no longer failing');
    }
    if (after.pausedUntil > now && before.pausedUntil <= now) {
      this.pausedSince ??= now;
      this.log.info(
        { pauseMs: after.pausedUntil - now, throttleStreak: this.throttleStreak, concurrencyLimit: this.aimd.limit },
        'sync paused: the endpoint answered 429',
      );
    } else if (verdict.kind === 'delivered' && this.pausedSince !== undefined) {
      this.log.info({ pausedForMs: now - this.pausedSince, concurrencyLimit: this.aimd.limit }, 'sync resumed after 429 pauses');
      this.pausedSince = undefined;
    }
  }

  private attemptCount(status: number | undefined): FoldedCount {
    const cls = statusClass(status);
    let count = this.attemptCounts.get(cls);
    if (!count) {
      count = this.deps.metrics.folded.attempt(this.sync.id, cls);
      this.attemptCounts.set(cls, count);
    }
    return count;
  }

  private onTry({ job, result, verdict, tryNumber }: TryReport): void {
    const known = this.attemptBase.get(job.messageId);
    const attempt = (known?.base ?? 0) + tryNumber;
    const traceId = known?.traceId;
    this.attemptCount(result.status).n++;
    this.summary.attempt();
    const delivered = verdict.kind === 'delivered';
    // One line per attempt only at debug: at info, the sync's summary line tells the same.
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug(
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
    }
    // A single payload refused with 413 is reported once, as discarded, when it is settled.
    if (verdict.kind === 'too-large') return;
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

  /**
   * Stores the dead letter (trying until it is stored), then acks. Stopped meanwhile: the
   * payload is given back instead, and its next owner decides again.
   */
  private async deadLetter(
    msg: JsMsg,
    job: DeliveryJob,
    reason: DeadLetterReason,
    state: StoredAttempts | undefined,
    traceId: string | undefined,
  ): Promise<void> {
    const stored = await storeDeadLetter(this.deps, msg, job, reason, state, traceId, this.stopping.signal, this.log);
    if (!stored) return this.giveBack(msg);
    this.counts.dead_lettered.n++;
    this.summary.payload('dead_lettered');
  }
}

/** What a failed request got, for the summary line: `HTTP 503: <excerpt>` or the network error. */
function describeFailure(result: SendResult): string {
  const excerpt = result.responseExcerpt.length > 200 ? `${result.responseExcerpt.slice(0, 200)}…` : result.responseExcerpt;
  return result.status === undefined ? excerpt : excerpt ? `HTTP ${result.status}: ${excerpt}` : `HTTP ${result.status}`;
}

/**
 * A dead letter, then the ack, then the outcome: the payload is in the delivery stream or in the
 * dead letters at every moment. False when stopped before the dead letter was stored.
 */
export async function storeDeadLetter(
  deps: Pick<SyncDeliveryDeps, 'outcomes' | 'attempts' | 'metrics'>,
  msg: JsMsg,
  job: DeliveryJob,
  reason: DeadLetterReason,
  state: StoredAttempts | undefined,
  traceId: string | undefined,
  signal: AbortSignal,
  log: Logger,
): Promise<boolean> {
  const deadAt = Date.now();
  const stored = await durably(
    () =>
      deps.outcomes.deadLetter({
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
      }),
    signal,
    log,
    'storing a dead letter',
  );
  if (!stored.ok) return false;
  msg.ack();
  void deps.attempts.forget(job.messageId).catch(() => undefined);
  if (reason === 'expired' || reason === 'sync deleted') {
    deps.outcomes.outcome({
      v: 1,
      syncId: job.syncId,
      messageId: job.messageId,
      payloadType: job.payloadType,
      result: reason === 'expired' ? 'expired' : 'dropped',
      attempt: state?.attempts ?? 0,
      at: Date.now(),
      receivedAt: job.receivedAt,
      reason,
      ...(traceId ? { traceId } : {}),
    });
  }
  deps.metrics.deadLetters.inc({ sync: job.syncId, reason });
  return true;
}
