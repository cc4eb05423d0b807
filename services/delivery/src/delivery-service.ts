import type { SyncSnapshot } from '@inkstream/contracts';
import type { ConfigView } from '@inkstream/bus';
import type { Logger } from '@inkstream/service-kit';
import { SyncDelivery, type SyncDeliveryDeps } from './sync-delivery.js';

/**
 * Keeps one SyncDelivery running for every active sync, following config changes live:
 * enabling starts it, disabling or deleting stops it (its payloads stay queued), other changes
 * (endpoint, credentials, limits) apply to the running one.
 */
export class DeliveryService {
  private readonly running = new Map<string, SyncDelivery>();
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly config: ConfigView,
    private readonly deps: SyncDeliveryDeps,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.config.onChange((next) => {
      if (next.kind === 'sync') this.enqueue(() => this.reconcile(next));
      else for (const sync of this.config.syncs.values()) if (sync.projectId === next.id) this.enqueue(() => this.reconcile(sync));
    });
    for (const sync of this.config.syncs.values()) this.enqueue(() => this.reconcile(sync));
    await this.queue;
  }

  get activeSyncs(): number {
    return this.running.size;
  }

  /** Config changes are applied one at a time, in the order they arrived. */
  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(task).catch((err) => this.logger.error({ err: String(err) }, 'applying a sync change failed'));
  }

  private async reconcile(snapshot: SyncSnapshot): Promise<void> {
    if (this.stopped) return;
    const sync = this.config.syncs.get(snapshot.id) ?? snapshot;
    const current = this.running.get(sync.id);
    const active = this.config.isActive(sync);
    if (active && current) {
      current.update(sync);
    } else if (active) {
      const delivery = new SyncDelivery(this.deps, sync);
      this.running.set(sync.id, delivery);
      await delivery.start();
      this.logger.info({ sync: sync.id }, 'sync delivery started');
    } else if (current) {
      this.running.delete(sync.id);
      await current.stop();
      this.logger.info({ sync: sync.id, enabled: sync.enabled, deleted: sync.deleted }, 'sync delivery stopped');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.queue;
    await Promise.all([...this.running.values()].map((d) => d.stop()));
    this.running.clear();
  }
}
