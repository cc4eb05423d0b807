import { setMaxListeners } from 'node:events';
import { itemsOfDeliveryMessage, jobOfItem, type DeliveryItem, type DeliveryOutcome, type OutcomeResult, type SyncSnapshot } from '@inkstream/contracts';
import {
  ACK_WAIT_MS,
  ConsumerRunner,
  KeyedLanes,
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
import { activeSpanRecording, annotateActiveSpan, contextFollowsAsyncWork, traceCarriedBatchProcess, traceCarriedProcess, type TraceCarrier } from '@inkstream/telemetry';
import { AimdConcurrency } from './aimd.js';
import { isDone, type AttemptStore, type StoredAttempts } from './attempt-store.js';
import { RecentIds } from './recent-ids.js';
import { QUICK_TRIES } from './backoff.js';
import { Batcher, resultOf } from './batcher.js';
import { DeliverySummary, SUMMARY_INTERVAL_MS } from './delivery-summary.js';
import { durably, sleepUnlessAborted } from './durably.js';
import type { HttpSender, SendResult } from '@inkstream/movable-ink';
import { statusClass, type DeliveryMetrics, type FoldedCount, type FoldedObservations } from './metrics.js';
import type { OutcomePublisher } from './outcome-publisher.js';
import { decide, throttleBackoffOf, throttleDelayMs, type Decision } from './retry-policy.js';
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
 * Messages are v1 jobs (one payload) or v2 segments (many payloads of the sync and partition, each
 * already serialized): each payload is handled on its own, and a message is acknowledged once
 * every one of its payloads is settled (delivered, dead-lettered, discarded); if one is given back
 * (stopping), the message is nak'ed whole, its settled payloads marked done first so the message
 * coming back skips them (docs/delivery.md, segments that come back).
 *
 * Order (`preserveUserOrder`): a user's payloads are handled one after another in stream order
 * (each payload of a segment in its user's lane), so a user has at most one request in flight
 * and a payload waiting for its retry holds the user's later payloads behind it —
 * unacknowledged, in JetStream. What that rests on is durable: the stream order of the messages
 * (a new owner, after a crash or hand-over, restores it before sending anything: see
 * ConsumerRunner.restoreOrderMs), the retry state of every payload that failed and the done
 * marks of settled payloads of a segment still unacknowledged (in the attempts bucket), read by
 * the same code whether the message comes back after a crash or not.
 *
 * Pauses (Retry-After, a failing endpoint) are the sync's send gate: nothing is sent, payloads
 * stay where they are, in order; a failing sync lets one probe through at a time.
 *
 * Tracing: a v1 job is delivered in a span of the trace its event started (the context is in the
 * message headers, so every retry joins that trace); a segment in one span linked to each
 * payload's trace (a payload's durable retries in spans of its own trace); a batch request gets
 * a span of its own with a link to each payload's trace. The HTTP client spans are children.
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
  private readonly attemptBase = new Map<string, { base: number; traceId: string | undefined; carrier: TraceCarrier | MsgHdrs | undefined }>();
  /** Payload ids this sync delivered recently (in memory only): a message that comes back skips them. */
  private readonly recent = new RecentIds();
  /** Messages up to this stream sequence may have state in the attempts bucket (see raiseStatefulUpTo). */
  private statefulUpTo = 0;
  private statefulWritten = 0;
  private statefulWrite: Promise<void> | undefined;
  private readonly log: Logger;
  private readonly durable: string;
  /** `{ sync }`, the labels of this sync's metrics, made once. */
  private readonly syncLabels: { sync: string };
  /** This sync's ingest-to-delivered latencies (folded into the histogram when scraped). */
  private readonly latency: FoldedObservations;
  /** This sync's payload counts by result (folded into the payloads counter when scraped). */
  private readonly counts: Record<'delivered' | 'discarded' | 'retry_scheduled' | 'throttled' | 'dead_lettered' | 'skipped_duplicate', FoldedCount>;
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
    this.latency = deps.metrics.folded.latency(sync.id);
    const payloadCount = (result: string) => deps.metrics.folded.payload(sync.id, result);
    this.counts = {
      delivered: payloadCount('delivered'),
      discarded: payloadCount('discarded'),
      retry_scheduled: payloadCount('retry_scheduled'),
      throttled: payloadCount('throttled'),
      dead_lettered: payloadCount('dead_lettered'),
      skipped_duplicate: payloadCount('skipped_duplicate'),
    };
    this.transmitter = new Transmitter(
      deps.sender,
      this.semaphore,
      (job, report) => this.onTry(job, report),
      (job) => this.attemptBase.get(job.messageId)?.base ?? 0,
      undefined,
      {
        enter: () => this.gate.enter(this.stopping.signal),
        tryEnter: () => this.gate.tryEnter(this.stopping.signal),
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
    // Messages, not payloads: a segment holds many. Enough to fill every request in flight with
    // v1 messages (one payload each), and at most 4,096 so the segments held stay bounded.
    const maxAckPending = Math.min(4_096, Math.max(1_024, batchSize * maxConcurrency * 4));
    const consumer = topology.consumers.delivery(this.sync.id, maxAckPending);
    await declareConsumer(bus.jsm, topology.streams.delivery.name, consumer);
    // Which messages may have state in the attempts bucket: needed before the first one is handled.
    const read = await durably(() => this.deps.attempts.statefulUpTo(this.durable), this.stopping.signal, this.log, 'reading which messages have retry state');
    if (!read.ok) return;
    this.statefulUpTo = this.statefulWritten = read.value;
    this.semaphore.setLimit(this.aimd.limit);
    this.runner = new ConsumerRunner({
      js: bus.js,
      stream: topology.streams.delivery.name,
      durable: consumer.durable_name,
      maxMessages: Math.min(512, maxAckPending, Math.max(64, batchSize * maxConcurrency * 2)),
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
    let items: DeliveryItem[];
    try {
      items = itemsOfDeliveryMessage(msg.string());
    } catch (err) {
      this.log.error({ seq: msg.seq, err: String(err) }, 'unreadable delivery message terminated');
      this.deps.metrics.unreadable.inc(this.syncLabels);
      // No reason: nats-server 2.9 takes `+TERM <reason>` for a nak and would redeliver it forever.
      msg.term();
      return Promise.resolve();
    }
    const work: MessageWork = {
      msg,
      items,
      multi: items.length > 1,
      headers: items.length === 1 && items[0]!.traceparent === undefined ? msg.headers : undefined,
      cameBack: msg.info.redelivered || msg.seq <= this.statefulUpTo,
      settled: [],
      marked: new Set(),
      keepingMarks: false,
      markWrites: [],
      stateful: false,
      givingBack: false,
    };
    if (!work.multi) return this.handleItems(work);
    // One span for the segment, linked to each payload's trace; its first transmissions run in it.
    return traceCarriedBatchProcess(
      {
        subject: msg.subject,
        template: this.deps.topology.subjectTemplates.delivery,
        consumer: this.durable,
        carriers: items,
      },
      () => this.handleItems(work),
    );
  }

  /**
   * Puts each payload of a message into its user's lane (synchronously, so the lanes keep
   * stream order), then answers the message once every payload is settled: acked, or, when one
   * had to be given back, nak'ed whole after the settled ones got their done marks.
   */
  private async handleItems(work: MessageWork): Promise<void> {
    const tasks: Promise<void>[] = [];
    for (const item of work.items) {
      if (this.recent.has(item.messageId)) {
        // Delivered by this process before: its message came back (an ack lost, a segment given back).
        work.settled.push(item.messageId);
        this.counts.skipped_duplicate.n++;
        continue;
      }
      tasks.push(this.sync.delivery.preserveUserOrder ? this.lanes.run(item.userKey, () => this.settle(work, item)) : this.settle(work, item));
    }
    if (tasks.length > 0) await Promise.all(tasks);
    const { msg } = work;
    if (!work.givingBack) {
      this.ack(msg);
      if (work.marked.size > 0) {
        const marked = [...work.marked];
        // After the ack is written (acks go out at the end of this turn): a crash in between only repeats.
        setImmediate(() => {
          for (const id of marked) void this.deps.attempts.forget(id).catch(() => undefined);
        });
      }
      return;
    }
    // Stopping: a few seconds at most; what is not written costs a repeated payload, not a lost one.
    const deadline = Date.now() + GIVE_BACK_WRITE_MS;
    if (work.multi) {
      // Marks under way first (one that failed is unmarked), then every settled payload not marked.
      if (work.markWrites.length > 0) await withinMs(Promise.all(work.markWrites), GIVE_BACK_WRITE_MS);
      for (const id of work.settled) if (!work.marked.has(id)) this.markDone(work, id);
      if (work.marked.size > 0) work.stateful = true;
    }
    if (work.stateful) {
      await withinMs(Promise.all([...work.markWrites, this.raiseStatefulUpTo(msg.seq)]), Math.max(0, deadline - Date.now()));
    }
    msg.nak();
  }

  /** Writes a done mark for a settled payload of a multi-payload message (purged after its ack). */
  private markDone(work: MessageWork, messageId: string): void {
    work.marked.add(messageId);
    // Not written: not marked (a give-back writes it again; at worst the payload is repeated).
    work.markWrites.push(this.deps.attempts.markDone(messageId).catch(() => void work.marked.delete(messageId)));
  }

  /**
   * Remembers (in the attempts bucket too) that messages up to `seq` may have state there, so
   * they are looked up when they come back even if JetStream does not mark them redelivered.
   */
  private raiseStatefulUpTo(seq: number): Promise<void> {
    if (seq <= this.statefulWritten) return Promise.resolve();
    if (seq > this.statefulUpTo) this.statefulUpTo = seq;
    const write = async (): Promise<void> => {
      // One write at a time, each of the highest sequence so far; a waiter is covered by the next.
      for (;;) {
        const target = this.statefulUpTo;
        if (target <= this.statefulWritten) return;
        await this.deps.attempts.putStatefulUpTo(this.durable, target);
        this.statefulWritten = Math.max(this.statefulWritten, target);
      }
    };
    const previous = this.statefulWrite ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(write);
    this.statefulWrite = next;
    void next.finally(() => {
      if (this.statefulWrite === next) this.statefulWrite = undefined;
    }).catch(() => undefined);
    return next;
  }

  /**
   * Handles a payload until it is settled or given back. An unexpected error does not let the
   * user's lane move on with the payload neither settled nor given back: it is handled again.
   */
  private settle(work: MessageWork, item: DeliveryItem): Promise<void> {
    // handle catches for it: no promise or frame of its own around the payload's.
    return this.handle(work, item, true);
  }

  private async settleAfterError(work: MessageWork, item: DeliveryItem, err: unknown): Promise<void> {
    for (;;) {
      this.log.error({ messageId: item.messageId, err: String(err) }, 'delivering a payload failed unexpectedly; trying again');
      if (!(await sleepUnlessAborted(1_000, this.stopping.signal))) return this.giveBack(work);
      try {
        await this.handle(work, item);
        return;
      } catch (again) {
        err = again;
      }
    }
  }

  /** A payload goes back to JetStream (stopping): its whole message is nak'ed once all are answered. */
  private giveBack(work: MessageWork): void {
    work.givingBack = true;
  }

  /** A payload is settled (delivered, discarded, dead-lettered): its message may be acked once all are. */
  private settled(work: MessageWork, item: DeliveryItem, hadState: boolean): void {
    work.settled.push(item.messageId);
    if (work.multi && (work.keepingMarks || hadState)) this.markDone(work, item.messageId);
    else if (hadState) void this.deps.attempts.forget(item.messageId).catch(() => undefined);
  }

  /**
   * One payload, from its first try to settled: tries, waits for its retries (holding its user's
   * later payloads behind it), and is settled only when delivered, discarded or dead-lettered.
   * The rare steps (reading retry state, storing it) are methods of their own, so the common
   * case's frame stays small: it is allocated for every payload.
   */
  private async handle(work: MessageWork, item: DeliveryItem, settleOnError = false): Promise<void> {
    try {
      // Another payload of the message was given back: the message goes back whole, this one unsent.
      if (work.givingBack) return;
      const traceId = item.traceparent !== undefined ? traceIdOfTraceparent(item.traceparent) : traceIdOf(work.msg.headers);
      // Only a payload whose message came back can have retry state or a done mark: the happy path reads nothing.
      let state: StoredAttempts | undefined;
      if (work.cameBack) {
        const read = await this.readState(work, item);
        if (read === SETTLED) return;
        state = read;
      }
      if (work.givingBack) return;
      if (!this.targetReady()) {
        // Not a property of the payload: hold it (and its user) until the key is right.
        await sleepUnlessAborted(60_000, this.stopping.signal);
        return this.giveBack(work);
      }
      for (;;) {
        if (state && Date.now() - state.firstAttemptAt >= this.sync.delivery.retryWindowSeconds * 1000) {
          await this.deadLetter(work, item, 'expired', state, traceId);
          return;
        }
        if (state?.nextAttemptAt !== undefined && state.nextAttemptAt > Date.now()) {
          if (!(await sleepUnlessAborted(state.nextAttemptAt - Date.now(), this.stopping.signal))) return this.giveBack(work);
          continue;
        }
        let transmitted: TransmittedOne;
        const batched = this.sync.delivery.batchSize > 1;
        if (batched || (work.multi && !state)) {
          // In the span that is active: a batched payload's span is its batch's (sendBatch), a
          // segment's payload makes its first transmission in the segment's span. Awaited here,
          // not in a function of its own: such a payload costs one async frame.
          this.attemptBase.set(item.messageId, { base: state?.attempts ?? 0, traceId, carrier: work.headers ?? item });
          let transmission: Transmission;
          try {
            if (batched) {
              const seat = this.batcher.join(item);
              transmission = resultOf(await seat.batch, seat.index, item);
            } else {
              const options = { tries: QUICK_TRIES, batched: false, recording: activeSpanRecording() };
              transmission = (await this.transmitter.send([item], this.targetOf, options))[0]!;
            }
          } finally {
            this.attemptBase.delete(item.messageId);
          }
          transmitted = this.decided(item, state, traceId, transmission, false);
        } else transmitted = await this.transmitOne(work, item, state, traceId);
        const { transmission, decision } = transmitted;
        if (transmission.aborted) return this.giveBack(work);
        const after = Date.now();
        switch (decision.action) {
          case 'ack': {
            this.recent.add(item.messageId);
            this.settled(work, item, state !== undefined);
            this.counts.delivered.n++;
            const latencyMs = Math.max(0, after - item.receivedAt);
            this.latency.observe(latencyMs / 1000);
            this.summary.payload('delivered', latencyMs);
            return;
          }
          case 'discard':
            // spec: a single payload refused with 413 is discarded (counted, not dead-lettered).
            this.settled(work, item, state !== undefined);
            this.counts.discarded.n++;
            this.summary.payload('discarded');
            return;
          case 'dead-letter': {
            const attemptsSoFar = (state?.attempts ?? 0) + transmission.tries;
            await this.deadLetter(work, item, decision.reason, this.stateAfter(state, attemptsSoFar, after, transmission.result, after), traceId);
            return;
          }
          case 'retry': {
            const next = await this.storeRetry(work, item, state, transmission, decision, after);
            if (!next) return this.giveBack(work);
            state = next;
            continue;
          }
        }
      }
    } catch (err) {
      if (!settleOnError) throw err;
      return this.settleAfterError(work, item, err);
    }
  }

  /**
   * The retry state or done mark of a payload whose message came back: SETTLED when it needs
   * nothing more (done before, or given back because the sync is stopping).
   */
  private async readState(work: MessageWork, item: DeliveryItem): Promise<StoredAttempts | undefined | typeof SETTLED> {
    const read = await durably(() => this.deps.attempts.get(item.messageId), this.stopping.signal, this.log, 'reading retry state');
    if (!read.ok) {
      this.giveBack(work);
      return SETTLED;
    }
    if (isDone(read.value)) {
      work.settled.push(item.messageId);
      work.marked.add(item.messageId);
      this.counts.skipped_duplicate.n++;
      return SETTLED;
    }
    if (read.value) work.stateful = true;
    return read.value;
  }

  /** False (logged) when the sync's authorization cannot be opened. */
  private targetReady(): boolean {
    try {
      this.target();
      return true;
    } catch (err) {
      this.log.error({ err: String(err) }, 'cannot decrypt the sync authorization (is SECRET_KEY the config service one?)');
      return false;
    }
  }

  /**
   * Stores a payload's retry state before it waits (a crash from then on resumes it); undefined
   * when the sync stopped first. Its message is known to have state (looked up when it comes
   * back), and its payloads settled so far get done marks (so do those settled from now on).
   */
  private async storeRetry(
    work: MessageWork,
    item: DeliveryItem,
    state: StoredAttempts | undefined,
    transmission: Transmission,
    decision: Extract<Decision, { action: 'retry' }>,
    after: number,
  ): Promise<StoredAttempts | undefined> {
    const counted = (state?.attempts ?? 0) + (decision.countsAttempt ? transmission.tries : 0);
    const next = this.stateAfter(state, counted, after, transmission.result, after + decision.delayMs);
    if (work.multi && !work.keepingMarks) {
      work.keepingMarks = true;
      for (const id of work.settled) if (!work.marked.has(id)) this.markDone(work, id);
    }
    const stored = await durably(
      async () => {
        await Promise.all([
          this.deps.attempts.put(item.messageId, next),
          work.stateful ? undefined : this.raiseStatefulUpTo(work.msg.seq),
          ...work.markWrites,
        ]);
      },
      this.stopping.signal,
      this.log,
      'storing retry state',
    );
    if (!stored.ok) return undefined;
    work.stateful = true;
    const scheduled = transmission.verdict.kind === 'throttled' ? 'throttled' : 'retry_scheduled';
    this.counts[scheduled].n++;
    this.summary.payload(scheduled);
    return next;
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
   * One transmission of a payload in a span of its own trace (its quick tries, or one durable
   * retry), with what the policy decides: a v1 message's payload, or a segment's on a retry. (A
   * segment's payload on its first transmission runs in the segment's span, a batching sync's in
   * the batch's: handle.)
   */
  private transmitOne(
    work: MessageWork,
    job: DeliveryItem,
    state: StoredAttempts | undefined,
    traceId: string | undefined,
  ): Promise<TransmittedOne> {
    const { msg } = work;
    return traceCarriedProcess(
      {
        subject: msg.subject,
        template: this.deps.topology.subjectTemplates.delivery,
        consumer: this.durable,
        carrier: work.headers ?? job,
        messageId: job.messageId,
        deliveryCount: msg.info.deliveryCount,
      },
      async (span) => {
        const recording = span.isRecording();
        this.attemptBase.set(job.messageId, { base: state?.attempts ?? 0, traceId, carrier: work.headers ?? job });
        let transmission: Transmission;
        try {
          transmission = (await this.transmitter.send([job], this.targetOf, { tries: state ? 1 : QUICK_TRIES, batched: false, recording }))[0]!;
        } finally {
          this.attemptBase.delete(job.messageId);
        }
        return this.decided(job, state, traceId, transmission, recording);
      },
    );
  }

  /** What the policy decides after a transmission (annotated on the active span when `annotate`). */
  private decided(
    job: DeliveryItem,
    state: StoredAttempts | undefined,
    traceId: string | undefined,
    transmission: Transmission,
    annotate: boolean,
  ): TransmittedOne {
    const { verdict, tries, result } = transmission;
    if (transmission.aborted) return { transmission, decision: GIVE_BACK };
    // The common case: the policy acks every 2xx (nothing to compute unless the span is annotated).
    if (verdict.kind === 'delivered' && !annotate) return { transmission, decision: ACK };
    const after = Date.now();
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
    if (annotate) {
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
  }

  private readonly targetOf = (): Target => this.target();

  /** One request for several payloads: a span of its own, linked to each payload's trace. */
  private sendBatch(jobs: DeliveryItem[]): Promise<Transmission[]> {
    const { topology } = this.deps;
    const firstTransmission = jobs.every((job) => (this.attemptBase.get(job.messageId)?.base ?? 0) === 0);
    return traceCarriedBatchProcess(
      {
        subject: topology.subjects.deliveryOfSync(this.sync.id),
        template: topology.subjectTemplates.delivery,
        consumer: this.durable,
        carriers: jobs.map((job) => this.attemptBase.get(job.messageId)?.carrier),
      },
      (span) => this.transmitter.send(jobs, this.targetOf, { tries: firstTransmission ? QUICK_TRIES : 1, batched: true, recording: span.isRecording() }),
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

  private onTry(job: DeliveryItem, { result, verdict, tryNumber }: TryReport): void {
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
          // The logger's mixin adds the trace ids when the active context follows the work; when the
          // work is handed its context instead (nothing recorded), the payload's trace id is here.
          ...(traceId !== undefined && !contextFollowsAsyncWork() ? { trace_id: traceId } : {}),
        },
        'attempt',
      );
    }
    // A single payload refused with 413 is reported once, as discarded, when it is settled.
    if (verdict.kind === 'too-large') return;
    // Built field by field (one per attempt of every payload): no spread objects in between.
    const outcome: DeliveryOutcome = {
      v: 1,
      syncId: job.syncId,
      messageId: job.messageId,
      payloadType: job.payloadType,
      result: RESULT_OF[verdict.kind],
      attempt,
      at: Date.now(),
      receivedAt: job.receivedAt,
    };
    if (traceId) outcome.traceId = traceId;
    if (result.status !== undefined) outcome.status = result.status;
    outcome.requestMs = result.latencyMs;
    if (!delivered) {
      outcome.error = result.error ? result.responseExcerpt : `HTTP ${result.status}`;
      outcome.responseBody = result.error ? '' : result.responseExcerpt;
    }
    if (result.requestId) outcome.requestId = result.requestId;
    this.deps.outcomes.outcome(outcome);
  }

  private publishOutcome(
    job: DeliveryItem,
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
   * Stores the dead letter (trying until it is stored), then the payload is settled. Stopped
   * meanwhile: the payload is given back instead, and its next owner decides again.
   */
  private async deadLetter(
    work: MessageWork,
    item: DeliveryItem,
    reason: DeadLetterReason,
    state: StoredAttempts | undefined,
    traceId: string | undefined,
  ): Promise<void> {
    const stored = await storeDeadLetter(this.deps, item, reason, state, traceId, this.stopping.signal, this.log, () =>
      this.settled(work, item, true),
    );
    if (!stored) return this.giveBack(work);
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
 * A dead letter, then `stored` (the caller acks the message, or settles the payload of a
 * segment, and forgets its retry state), then the outcome: the payload is in the delivery stream
 * or in the dead letters at every moment. False when stopped before the dead letter was stored.
 */
export async function storeDeadLetter(
  deps: Pick<SyncDeliveryDeps, 'outcomes' | 'attempts' | 'metrics'>,
  item: DeliveryItem,
  reason: DeadLetterReason,
  state: StoredAttempts | undefined,
  traceId: string | undefined,
  signal: AbortSignal,
  log: Logger,
  stored: () => void,
): Promise<boolean> {
  const deadAt = Date.now();
  const job = jobOfItem(item);
  const written = await durably(
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
  if (!written.ok) return false;
  stored();
  if (reason === 'expired' || reason === 'sync deleted') {
    deps.outcomes.outcome({
      v: 1,
      syncId: item.syncId,
      messageId: item.messageId,
      payloadType: item.payloadType,
      result: reason === 'expired' ? 'expired' : 'dropped',
      attempt: state?.attempts ?? 0,
      at: Date.now(),
      receivedAt: item.receivedAt,
      reason,
      ...(traceId ? { traceId } : {}),
    });
  }
  deps.metrics.deadLetters.inc({ sync: item.syncId, reason });
  return true;
}

/** One message of the delivery stream while its payloads are handled. */
interface MessageWork {
  msg: JsMsg;
  items: DeliveryItem[];
  /** More than one payload: its settled payloads get done marks when it may come back. */
  multi: boolean;
  /** Where a single payload's trace context is (a v1 job's headers); undefined: in the payload. */
  headers: MsgHdrs | undefined;
  /** It may have been delivered before (redelivered, or at most the sync's stateful sequence). */
  cameBack: boolean;
  /** Ids of its payloads settled so far (delivered, discarded, dead-lettered, skipped). */
  settled: string[];
  /** Ids with a done mark (read or written): purged after the ack. */
  marked: Set<string>;
  /** One of its payloads went into durable retry: every payload settled from then on is marked. */
  keepingMarks: boolean;
  markWrites: Array<Promise<unknown>>;
  /** It has state in the attempts bucket (retry state, done marks). */
  stateful: boolean;
  /** A payload was given back: the message is nak'ed whole once every payload is answered. */
  givingBack: boolean;
}

/** readState: the payload needs nothing more (done before, or given back). */
const SETTLED = Symbol('settled');

/** A transmission of one payload and what the policy decided. */
interface TransmittedOne {
  transmission: Transmission;
  decision: Decision;
}

/** Decisions without data, shared (the policy's `ack` of every 2xx; a transmission the sync's stop cut short). */
const ACK: Decision = { action: 'ack' };
const GIVE_BACK: Decision = { action: 'retry', delayMs: 0, countsAttempt: false };

/** How long a stopping sync tries to write done marks before it gives a message back anyway. */
const GIVE_BACK_WRITE_MS = 3_000;

/** Waits for `p` at most `ms` (its failure or lateness is what a repeated payload costs). */
async function withinMs(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const INVALID_TRACE_ID = '0'.repeat(32);

/** The trace id of a W3C traceparent (`00-<trace id>-<span id>-<flags>`). */
export function traceIdOfTraceparent(traceparent: string): string | undefined {
  const id = traceparent.slice(3, 35);
  return traceparent.length >= 55 && TRACE_ID.test(id) && id !== INVALID_TRACE_ID ? id : undefined;
}
