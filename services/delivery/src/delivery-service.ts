import type { SyncSnapshot } from '@inkstream/contracts';
import { LeaseManager, type ConfigView, type KV } from '@inkstream/bus';
import type { Logger } from '@inkstream/service-kit';
import { SyncDelivery, type SyncDeliveryDeps } from './sync-delivery.js';

export interface DeliveryServiceOptions {
  config: ConfigView;
  deps: SyncDeliveryDeps;
  logger: Logger;
  /** Bucket of sync leases shared by the delivery replicas. */
  leases: KV;
  replicaId: string;
  leaseTtlMs: number;
}

/**
 * Runs the syncs this replica holds a lease for (each sync is delivered by one replica at a
 * time, which keeps a user's payloads in order across replicas), following config changes
 * live: enabling starts a sync, disabling stops it (its payloads stay queued), other changes
 * apply to the running one, and deleting turns its queued payloads into dead letters.
 */
export class DeliveryService {
  private readonly running = new Map<string, SyncDelivery>();
  private readonly drained = new Set<string>();
  private leaseManager: LeaseManager | undefined;

  constructor(private readonly options: DeliveryServiceOptions) {}

  /** Active syncs, and deleted ones whose queue may still hold payloads to dead-letter. */
  private resources(): string[] {
    const out: string[] = [];
    for (const sync of this.options.config.syncs.values()) {
      if (this.options.config.isActive(sync) || (sync.deleted && !this.drained.has(sync.id))) out.push(sync.id);
    }
    return out;
  }

  get syncs(): Iterable<SyncDelivery> {
    return this.running.values();
  }

  async start(): Promise<void> {
    const { config, logger } = this.options;
    this.leaseManager = new LeaseManager({
      kv: this.options.leases,
      replicaId: this.options.replicaId,
      resources: () => this.resources(),
      onAcquire: (id) => this.acquire(id),
      onRelease: (id) => this.release(id),
      ttlMs: this.options.leaseTtlMs,
      renewEveryMs: Math.floor(this.options.leaseTtlMs / 4),
      logger,
    });
    config.onChange((next) => {
      if (next.kind === 'sync') this.running.get(next.id)?.update(next);
      void this.leaseManager?.nudge();
    });
    await this.leaseManager.start();
  }

  private async acquire(id: string): Promise<void> {
    const sync = this.options.config.syncs.get(id);
    if (!sync) return;
    if (sync.deleted) {
      await this.drain(sync);
      return;
    }
    const delivery = new SyncDelivery(this.options.deps, sync);
    this.running.set(id, delivery);
    await delivery.start();
    this.options.logger.info({ sync: id }, 'sync delivery started');
  }

  private async drain(sync: SyncSnapshot): Promise<void> {
    const count = await new SyncDelivery(this.options.deps, sync).drainToDeadLetters();
    this.drained.add(sync.id);
    this.options.logger.info({ sync: sync.id, deadLetters: count }, 'deleted sync drained into dead letters');
    void this.leaseManager?.nudge();
  }

  private async release(id: string): Promise<void> {
    const delivery = this.running.get(id);
    if (!delivery) return;
    this.running.delete(id);
    await delivery.stop();
    this.options.logger.info({ sync: id }, 'sync delivery stopped');
  }

  async stop(): Promise<void> {
    await this.leaseManager?.stop();
    await Promise.all([...this.running.values()].map((d) => d.stop()));
    this.running.clear();
  }
}
