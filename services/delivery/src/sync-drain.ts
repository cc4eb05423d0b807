import type { DeliveryJob, SyncSnapshot } from '@inkstream/contracts';
import { ConsumerRunner, decodeJson, declareConsumer, traceIdOf, type JsMsg } from '@inkstream/bus';
import type { Logger } from '@inkstream/service-kit';
import { type SyncDeliveryDeps, storeDeadLetter } from './sync-delivery.js';

/**
 * The queue of a deleted sync (or of a sync of a deleted project): every payload still queued,
 * and any that arrives while the drain runs (a filter that had not yet seen the deletion),
 * becomes a dead letter with reason `sync deleted`. Runs under the sync's lease, like delivery.
 */
export class SyncDrain {
  private runner: ConsumerRunner | undefined;
  private readonly stopping = new AbortController();
  private readonly log: Logger;
  drained = 0;

  constructor(
    private readonly deps: SyncDeliveryDeps,
    private readonly sync: SyncSnapshot,
  ) {
    this.log = deps.logger.child({ sync: sync.id });
  }

  async start(): Promise<void> {
    const { bus, topology } = this.deps;
    const consumer = topology.consumers.delivery(this.sync.id);
    await declareConsumer(bus.jsm, topology.streams.delivery.name, consumer);
    this.runner = new ConsumerRunner({
      js: bus.js,
      stream: topology.streams.delivery.name,
      durable: consumer.durable_name,
      maxMessages: 256,
      logger: this.log,
      onMessage: (msg) => this.drainOne(msg),
    });
    this.runner.start();
  }

  private async drainOne(msg: JsMsg): Promise<void> {
    if (this.stopping.signal.aborted) {
      msg.nak();
      return;
    }
    let job: DeliveryJob;
    try {
      job = decodeJson<DeliveryJob>(msg.data);
    } catch {
      msg.term('unreadable');
      return;
    }
    // The retry state only enriches the dead letter: without it the letter is still stored.
    const state = msg.info.redelivered ? await this.deps.attempts.get(job.messageId).catch(() => undefined) : undefined;
    const stored = await storeDeadLetter(this.deps, msg, job, 'sync deleted', state, traceIdOf(msg.headers), this.stopping.signal, this.log);
    if (!stored) msg.nak();
    else this.drained++;
  }

  async stop(): Promise<void> {
    const stopped = this.runner?.stop();
    this.stopping.abort();
    await stopped;
  }

  /** Once the drain is over for good: the sync's consumer goes too. */
  async removeConsumer(): Promise<void> {
    const { bus, topology } = this.deps;
    await bus.jsm.consumers.delete(topology.streams.delivery.name, topology.consumers.delivery(this.sync.id).durable_name).catch(() => undefined);
  }
}
