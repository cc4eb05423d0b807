import type { KV } from '@nats-io/kv';
import type { BusLogger } from './connection.js';

export interface LeaseManagerOptions {
  /** Bucket created with `ttl` = ttlMs, so an abandoned lease expires by itself. */
  kv: KV;
  /** Unique per process. */
  replicaId: string;
  /** The resources to share among replicas (partitions, syncs); may change over time. */
  resources: () => readonly string[];
  /** Called when this replica may start working a resource. */
  onAcquire: (resource: string) => Promise<void>;
  /** Called when it must stop; resolves once in-flight work is drained. */
  onRelease: (resource: string) => Promise<void>;
  ttlMs: number;
  /** How often leases and membership are renewed and rebalanced. */
  renewEveryMs: number;
  logger: BusLogger;
}

interface Held {
  revision: number;
}

/**
 * Shares resources among the live replicas of a service with leases in a JetStream KV bucket
 * (works on nats-server 2.9, which has no pinned consumers): each resource is worked by at most
 * one replica, a crashed replica's leases expire after the bucket TTL and are taken over, and
 * shares rebalance to ⌈resources / replicas⌉ when replicas come and go.
 *
 * A replica that fails to renew a lease (compare-and-set on the revision) stops working it at
 * once; a replica that leaves releases its leases after draining, so hand-over is immediate.
 */
export class LeaseManager {
  private readonly held = new Map<string, Held>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: LeaseManagerOptions) {}

  get owned(): string[] {
    return [...this.held.keys()].sort();
  }

  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.tick());
    }, this.options.renewEveryMs);
  }

  /** Runs a rebalance pass now (after a config change, for instance). */
  nudge(): Promise<void> {
    this.running = this.running.then(() => this.tick());
    return this.running;
  }

  private leaseKey(resource: string): string {
    return `lease.${resource}`;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const { kv, replicaId, logger } = this.options;
    try {
      await kv.put(`member.${replicaId}`, String(Date.now()));
      const members = new Set<string>();
      for await (const key of await kv.keys('member.>')) members.add(key.slice('member.'.length));
      members.add(replicaId);

      const resources = new Set(this.options.resources());
      // Renew what we hold; drop what vanished or what we lost to someone else.
      for (const [resource, held] of [...this.held]) {
        if (!resources.has(resource)) {
          await this.release(resource);
          continue;
        }
        try {
          held.revision = await kv.update(this.leaseKey(resource), replicaId, held.revision);
        } catch (err) {
          logger.warn({ resource, err: String(err) }, 'lease lost');
          this.held.delete(resource);
          await this.options.onRelease(resource);
        }
      }

      const share = Math.ceil(resources.size / Math.max(1, members.size));
      // Give back what is above our share, so newcomers can pick it up.
      for (const resource of this.owned.slice(share)) await this.release(resource);
      // Take free resources up to our share.
      for (const resource of resources) {
        if (this.held.size >= share || this.stopped) break;
        if (this.held.has(resource)) continue;
        try {
          const revision = await kv.create(this.leaseKey(resource), replicaId);
          this.held.set(resource, { revision });
          try {
            await this.options.onAcquire(resource);
          } catch (err) {
            logger.error({ resource, err: String(err) }, 'starting work on an acquired lease failed; releasing it');
            await this.release(resource);
          }
        } catch {
          // Held by another replica.
        }
      }
    } catch (err) {
      logger.warn({ err: String(err) }, 'lease pass failed; retrying on the next tick');
    }
  }

  private async release(resource: string): Promise<void> {
    const held = this.held.get(resource);
    this.held.delete(resource);
    await this.options.onRelease(resource);
    if (held) {
      await this.options.kv.delete(this.leaseKey(resource), { previousSeq: held.revision }).catch(() => undefined);
    }
  }

  /** Stops working every resource (draining), then gives the leases back. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
    for (const resource of this.owned) await this.release(resource);
    await this.options.kv.delete(`member.${this.options.replicaId}`).catch(() => undefined);
  }
}
