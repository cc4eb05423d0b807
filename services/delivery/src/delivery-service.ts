import type { SyncSnapshot } from '@inkstream/contracts';
import { LeaseManager, type ConfigView, type KV } from '@inkstream/bus';
import type { Logger } from '@inkstream/service-kit';
import { SyncDelivery, type SyncDeliveryDeps } from './sync-delivery.js';
import { SyncDrain } from './sync-drain.js';
import { workFor, type SyncWork } from './sync-work.js';

export interface DeliveryServiceOptions {
  config: ConfigView;
  deps: SyncDeliveryDeps;
  logger: Logger;
  /** Bucket of sync leases shared by the delivery replicas. */
  leases: KV;
  replicaId: string;
  leaseTtlMs: number;
  /** How long after its deletion a sync's queue is still drained into dead letters. Default 1 h. */
  drainGraceMs?: number;
}

type Running = { kind: 'deliver'; delivery: SyncDelivery } | { kind: 'drain'; drain: SyncDrain };

/**
 * Runs the syncs this replica holds a lease for (each sync is worked by one replica at a time,
 * which keeps a user's payloads in order across replicas), following config changes live:
 * enabling starts a sync; disabling stops it (its payloads stay queued, whatever their age);
 * other changes apply to the running one; deleting a sync or its project stops its delivery at
 * once and turns its queued payloads into `sync deleted` dead letters.
 */
export class DeliveryService {
  private readonly running = new Map<string, Running>();
  /** Leases held: a sync is worked only while its lease is. */
  private readonly leased = new Set<string>();
  /** One change at a time per sync (start, stop, switch to draining). */
  private readonly chains = new Map<string, Promise<void>>();
  private leaseManager: LeaseManager | undefined;

  constructor(private readonly options: DeliveryServiceOptions) {}

  private wanted(id: string): SyncWork {
    const { config } = this.options;
    const sync = config.syncs.get(id);
    if (!sync) return 'none';
    return workFor(sync, config.projects.get(sync.projectId), config.isActive(sync), Date.now(), this.options.drainGraceMs);
  }

  /** Syncs that deliver, and deleted ones whose queue is still being drained. */
  private resources(): string[] {
    return [...this.options.config.syncs.keys()].filter((id) => this.wanted(id) !== 'none');
  }

  get syncs(): Iterable<SyncDelivery> {
    const out: SyncDelivery[] = [];
    for (const r of this.running.values()) if (r.kind === 'deliver') out.push(r.delivery);
    return out;
  }

  async start(): Promise<void> {
    const { config, logger } = this.options;
    this.leaseManager = new LeaseManager({
      kv: this.options.leases,
      replicaId: this.options.replicaId,
      resources: () => this.resources(),
      onAcquire: (id) => {
        this.leased.add(id);
        return this.reconcile(id);
      },
      onRelease: (id) => {
        this.leased.delete(id);
        return this.reconcile(id);
      },
      ttlMs: this.options.leaseTtlMs,
      renewEveryMs: Math.floor(this.options.leaseTtlMs / 4),
      logger,
    });
    config.onChange((next) => {
      const ids = next.kind === 'sync' ? [next.id] : [...config.syncs.values()].filter((s) => s.projectId === next.id).map((s) => s.id);
      for (const id of ids) if (this.leased.has(id) || this.running.has(id)) void this.reconcile(id);
      void this.leaseManager?.nudge();
    });
    await this.leaseManager.start();
  }

  /** Brings the work on one sync in line with its lease and its config, one change at a time. */
  private reconcile(id: string): Promise<void> {
    const next = (this.chains.get(id) ?? Promise.resolve()).then(() => this.apply(id)).catch((err) => {
      this.options.logger.error({ sync: id, err: String(err) }, 'changing the work on a sync failed');
    });
    this.chains.set(id, next);
    void next.then(() => {
      if (this.chains.get(id) === next) this.chains.delete(id);
    });
    return next;
  }

  private async apply(id: string): Promise<void> {
    const { config, deps, logger } = this.options;
    const want = this.leased.has(id) ? this.wanted(id) : 'none';
    const current = this.running.get(id);
    const sync = config.syncs.get(id);
    if (current?.kind === want) {
      if (current.kind === 'deliver' && sync) current.delivery.update(sync);
      return;
    }
    if (current) {
      this.running.delete(id);
      if (current.kind === 'deliver') {
        await current.delivery.stop();
        logger.info({ sync: id }, 'sync delivery stopped');
      } else {
        await current.drain.stop();
        logger.info({ sync: id, deadLetters: current.drain.drained }, 'deleted sync drain stopped');
        if (this.wanted(id) === 'none' && sync && (sync.deleted || config.projects.get(sync.projectId)?.deleted)) {
          await current.drain.removeConsumer();
        }
      }
    }
    if (!sync || want === 'none') return;
    if (want === 'deliver') {
      const delivery = new SyncDelivery(deps, sync);
      this.running.set(id, { kind: 'deliver', delivery });
      await delivery.start();
      logger.info({ sync: id }, 'sync delivery started');
    } else {
      const drain = new SyncDrain(deps, sync);
      this.running.set(id, { kind: 'drain', drain });
      await drain.start();
      logger.info({ sync: id }, 'deleted sync: draining its queue into dead letters');
    }
  }

  async stop(): Promise<void> {
    await this.leaseManager?.stop();
    for (const id of [...this.running.keys()]) {
      this.leased.delete(id);
      await this.reconcile(id);
    }
  }
}

export type { SyncSnapshot };
