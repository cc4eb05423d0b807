import { itemsOfDeliveryMessage, type DeliveryItem, type SyncSnapshot } from '@inkstream/contracts';
import { ConsumerRunner, declareConsumer, traceIdOf, type JsMsg } from '@inkstream/bus';
import type { Logger } from '@inkstream/service-kit';
import { isDone } from './attempt-store.js';
import { type SyncDeliveryDeps, storeDeadLetter, traceIdOfTraceparent } from './sync-delivery.js';

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

  /** Every payload of the message (a v1 job, or each of a segment's) becomes a dead letter, then the ack. */
  private async drainOne(msg: JsMsg): Promise<void> {
    if (this.stopping.signal.aborted) {
      msg.nak();
      return;
    }
    let items: DeliveryItem[];
    try {
      items = itemsOfDeliveryMessage(msg.string());
    } catch (err) {
      this.log.error({ seq: msg.seq, err: String(err) }, 'unreadable delivery message terminated');
      this.deps.metrics.unreadable.inc({ sync: this.sync.id });
      // No reason: nats-server 2.9 takes `+TERM <reason>` for a nak and would redeliver it forever.
      msg.term();
      return;
    }
    // Whether it came back is a guess here (nats-server 2.9 may not say so): looking up costs one
    // read per payload of a deleted sync, and tells which were delivered already (done marks).
    const marked: string[] = [];
    for (const item of items) {
      const read = await this.deps.attempts.get(item.messageId).catch(() => undefined);
      if (isDone(read)) {
        marked.push(item.messageId);
        continue;
      }
      const traceId = item.traceparent !== undefined ? traceIdOfTraceparent(item.traceparent) : traceIdOf(msg.headers);
      const stored = await storeDeadLetter(this.deps, item, 'sync deleted', read, traceId, this.stopping.signal, this.log, () => {
        if (items.length === 1) {
          void this.deps.attempts.forget(item.messageId).catch(() => undefined);
          return;
        }
        // A segment given back half drained skips what is a dead letter already.
        marked.push(item.messageId);
        void this.deps.attempts.markDone(item.messageId).catch(() => undefined);
      });
      if (!stored) {
        msg.nak();
        return;
      }
      this.drained++;
    }
    msg.ack();
    for (const id of marked) void this.deps.attempts.forget(id).catch(() => undefined);
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
