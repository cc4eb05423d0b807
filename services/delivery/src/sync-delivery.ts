import type { DeliveryJob, SyncSnapshot } from '@inkstream/contracts';
import { ConsumerRunner, KeyedLanes, decodeJson, declareConsumer, type Bus, type JsMsg, type Topology } from '@inkstream/bus';
import { buildRequest, classifyResponse, type ResponseClass } from '@inkstream/movable-ink';
import type { SecretBox } from '@inkstream/secret-box';
import type { Logger } from '@inkstream/service-kit';
import { QUICK_TRIES, durableRetryDelayMs, quickRetryDelayMs } from './backoff.js';
import type { HttpSender, SendResult } from './http-sender.js';
import { statusClass, type DeliveryMetrics } from './metrics.js';
import { Semaphore } from './semaphore.js';

export interface SyncDeliveryDeps {
  bus: Bus;
  topology: Topology;
  sender: HttpSender;
  secrets: SecretBox;
  metrics: DeliveryMetrics;
  logger: Logger;
}

/**
 * Delivery of one sync: its own durable consumer, concurrency limit and metrics, so a slow or
 * failing endpoint never holds up another sync. A payload is acked only once delivered.
 */
export class SyncDelivery {
  private runner: ConsumerRunner | undefined;
  private readonly lanes = new KeyedLanes();
  private readonly semaphore: Semaphore;
  private authorization: { sealed: string; header: string } | undefined;
  private readonly log: Logger;

  constructor(
    private readonly deps: SyncDeliveryDeps,
    private sync: SyncSnapshot,
  ) {
    this.semaphore = new Semaphore(sync.delivery.maxConcurrency);
    this.log = deps.logger.child({ sync: sync.id });
  }

  get id(): string {
    return this.sync.id;
  }

  update(sync: SyncSnapshot): void {
    this.sync = sync;
    this.semaphore.setLimit(sync.delivery.maxConcurrency);
  }

  async start(): Promise<void> {
    const { bus, topology } = this.deps;
    const consumer = topology.consumers.delivery(this.sync.id);
    await declareConsumer(bus.jsm, topology.streams.delivery.name, consumer);
    this.deps.metrics.concurrencyLimit.set({ sync: this.sync.id }, this.semaphore.capacity);
    this.runner = new ConsumerRunner({
      js: bus.js,
      stream: topology.streams.delivery.name,
      durable: consumer.durable_name,
      maxMessages: Math.max(16, this.sync.delivery.maxConcurrency * 4),
      logger: this.log,
      onMessage: (msg) => this.onMessage(msg),
    });
    this.runner.start();
  }

  async stop(): Promise<void> {
    await this.runner?.stop();
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
    if (this.sync.delivery.preserveUserOrder) return this.lanes.run(job.userKey, () => this.deliver(msg, job));
    return this.deliver(msg, job);
  }

  private authorizationHeader(): string {
    const sealed = this.sync.authorizationSealed;
    if (this.authorization?.sealed !== sealed) {
      this.authorization = { sealed, header: this.deps.secrets.open(sealed) };
    }
    return this.authorization.header;
  }

  private async deliver(msg: JsMsg, job: DeliveryJob): Promise<void> {
    let header: string;
    try {
      header = this.authorizationHeader();
    } catch (err) {
      this.log.error({ err: String(err) }, 'cannot decrypt the sync authorization (is SECRET_KEY the config service one?)');
      msg.nak(60_000);
      return;
    }
    const request = buildRequest([job.payload], header);
    await this.semaphore.acquire();
    const { metrics } = this.deps;
    metrics.inFlight.set({ sync: this.sync.id }, this.semaphore.inFlight);
    try {
      let last: { result: SendResult; verdict: ResponseClass } | undefined;
      for (let quick = 0; quick < QUICK_TRIES; quick++) {
        const { delivery } = this.sync;
        const result = await this.deps.sender.send(this.sync.endpointUrl, request, delivery.requestTimeoutMs);
        const verdict = classifyResponse(result);
        last = { result, verdict };
        metrics.attempts.inc({ sync: this.sync.id, status_class: statusClass(result.status) });
        this.log.info(
          {
            messageId: job.messageId,
            type: job.payloadType,
            attempt: msg.info.deliveryCount,
            try: quick + 1,
            status: result.status,
            outcome: verdict.kind,
            ms: result.latencyMs,
            ...(result.error ? { error: result.responseExcerpt } : {}),
          },
          'attempt',
        );
        if (verdict.kind === 'delivered') {
          msg.ack();
          metrics.payloads.inc({ sync: this.sync.id, result: 'delivered' });
          metrics.latency.observe({ sync: this.sync.id }, Math.max(0, Date.now() - job.receivedAt) / 1000);
          return;
        }
        const quickRetry =
          (verdict.kind === 'retry' || verdict.kind === 'throttled') &&
          quick < QUICK_TRIES - 1 &&
          (verdict.retryAfterMs === undefined || verdict.retryAfterMs <= 1_000);
        if (!quickRetry) break;
        await sleep(verdict.retryAfterMs ?? quickRetryDelayMs(quick));
      }
      // Not delivered: back to JetStream with an explicit delay, never an immediate redelivery.
      const retryAfterMs = last && 'retryAfterMs' in last.verdict ? last.verdict.retryAfterMs : undefined;
      msg.nak(retryAfterMs ?? durableRetryDelayMs(msg.info.deliveryCount));
      metrics.payloads.inc({ sync: this.sync.id, result: 'retry_scheduled' });
    } finally {
      this.semaphore.release();
      metrics.inFlight.set({ sync: this.sync.id }, this.semaphore.inFlight);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
