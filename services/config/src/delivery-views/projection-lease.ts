import { randomUUID } from 'node:crypto';
import { LeaseManager, declareConsumer, openBucket, type Bus, type Topology } from '@inkstream/bus';
import type { Logger } from '@inkstream/service-kit';
import { OutcomeProjector, type OutcomeProjectorOptions } from './outcome-projector.js';

const RESOURCE = 'outcome-projection';

export interface LeasedOutcomeProjectionOptions extends Omit<OutcomeProjectorOptions, 'bus'> {
  bus: Pick<Bus, 'js' | 'jsm' | 'kvm'>;
  logger: Logger;
  /** Unique per process; default a random id. */
  replicaId?: string;
  /** How often the lease is renewed (and a free one looked for). Default TTL / 4. */
  renewEveryMs?: number;
}

/**
 * Runs the outcome projection in one config replica at a time. Correctness does not depend on
 * it — the checkpoint only ever grows without gaps — but replicas pulling from one consumer
 * are handed alternating messages, and each could then apply only a sliver per transaction.
 * The lease (JetStream KV, as filter and delivery share their work) expires 10 s after its
 * holder died; a replica that stops hands it over at once.
 */
export class LeasedOutcomeProjection {
  private leases: LeaseManager | undefined;
  private projector: OutcomeProjector | undefined;
  readonly replicaId: string;

  constructor(private readonly options: LeasedOutcomeProjectionOptions) {
    this.replicaId = options.replicaId ?? randomUUID();
  }

  /** True while this replica is the one projecting. */
  get active(): boolean {
    return this.projector !== undefined;
  }

  async start(): Promise<void> {
    const { bus, topology, logger } = this.options;
    // Declared by every replica at start-up, so outcomes are kept for it whoever projects.
    await declareConsumer(bus.jsm, topology.streams.outcomes.name, topology.consumers.outcomes());
    const bucket = topology.buckets.configLeases;
    const kv = await openBucket(bus.kvm, bucket);
    this.leases = new LeaseManager({
      kv,
      replicaId: this.replicaId,
      resources: () => [RESOURCE],
      onAcquire: async () => {
        const projector = new OutcomeProjector(this.options);
        await projector.start();
        this.projector = projector;
        logger.info({ replica: this.replicaId }, 'projecting delivery outcomes');
      },
      onRelease: async () => {
        const projector = this.projector;
        this.projector = undefined;
        await projector?.stop();
        logger.info({ replica: this.replicaId }, 'stopped projecting delivery outcomes');
      },
      ttlMs: bucket.ttl,
      renewEveryMs: this.options.renewEveryMs ?? Math.floor(bucket.ttl / 4),
      logger,
    });
    await this.leases.start();
  }

  /** Stops projecting (writing what it holds) and hands the lease over. */
  async stop(): Promise<void> {
    await this.leases?.stop();
  }
}
