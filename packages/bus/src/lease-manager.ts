import type { KV } from '@nats-io/kv';
import type { BusLogger } from './connection.js';
import { leaseVerdict, renewalError } from './lease-policy.js';

export interface LeaseManagerOptions {
  /** Bucket created with `ttl` = ttlMs, so an abandoned lease expires by itself. */
  kv: KV;
  /** Unique per process. */
  replicaId: string;
  /** The resources to share among replicas (partitions, syncs); may change over time. */
  resources: () => readonly string[];
  /** Called when this replica may start working a resource. */
  onAcquire: (resource: string) => Promise<void>;
  /**
   * Called when it must stop; resolves once in-flight work is drained. It must stop taking new
   * work at once (synchronously or within a few hundred ms): after a missed renewal it is called
   * `fenceMarginMs` before another replica could take the lease.
   */
  onRelease: (resource: string) => Promise<void>;
  ttlMs: number;
  /** How often leases are renewed and shares rebalanced. */
  renewEveryMs: number;
  /**
   * Work on a lease stops when it was last renewed more than ttlMs − fenceMarginMs ago (its
   * renewals failed, say NATS was unreachable), so it has stopped before the lease can expire and
   * be taken. Default: a quarter of the TTL, at least two renewal periods' worth of slack left.
   */
  fenceMarginMs?: number;
  logger: BusLogger;
  /** The clock (tests). */
  now?: () => number;
}

interface Held {
  revision: number;
  /** When the write that produced `revision` was sent: the lease lasts at least ttl from then. */
  renewedAt: number;
  /** Being released: renewed until its work has drained, then deleted. */
  releasing: boolean;
  /** Start and stop of the work on this resource, one after the other. */
  work: Promise<void>;
}

/**
 * Shares resources among the live replicas of a service with leases in a JetStream KV bucket
 * (works on nats-server 2.9, which has no pinned consumers): each resource is worked by at most
 * one replica, a crashed replica's leases expire after the bucket TTL and are taken over within
 * a renewal period, and shares rebalance to ⌈resources / replicas⌉ when replicas come and go.
 *
 * No overlap, by construction:
 * - renewals run on their own timer, all leases at once, and never wait for acquire or release
 *   work (draining a sync may take seconds);
 * - a lease is only given up in KV after its work has drained, and it is renewed until then;
 * - a transient KV error is not a lost lease: the lease is kept and renewed on the next round,
 *   but if no renewal succeeded for ttl − fenceMargin, work stops (fenced) before the lease can
 *   expire and be taken by another replica;
 * - a renewal refused because the revision moved (someone else holds it now) stops work at once.
 */
export class LeaseManager {
  private readonly held = new Map<string, Held>();
  /** Work of fenced or lost leases that is still draining (awaited by stop). */
  private readonly dropped = new Set<Promise<void>>();
  private renewTimer: NodeJS.Timeout | undefined;
  private rebalancing: Promise<void> | undefined;
  private renewing = false;
  private stopped = false;
  private readonly now: () => number;
  private readonly fenceMarginMs: number;

  constructor(private readonly options: LeaseManagerOptions) {
    this.now = options.now ?? Date.now;
    this.fenceMarginMs = options.fenceMarginMs ?? Math.max(Math.floor(options.ttlMs / 4), 2 * options.renewEveryMs);
  }

  /** Resources this replica works (or is starting to work) now. */
  get owned(): string[] {
    return [...this.held.entries()].filter(([, h]) => !h.releasing).map(([r]) => r).sort();
  }

  async start(): Promise<void> {
    await this.rebalance();
    this.renewTimer = setInterval(() => {
      void this.renewAll();
      void this.nudge();
    }, this.options.renewEveryMs);
    // Work on what was taken at once has started by the time start resolves.
    await Promise.all([...this.held.values()].map((held) => held.work));
  }

  /** Runs a rebalance pass now (after a config change, for instance); one at a time. */
  nudge(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.rebalancing ??= this.rebalance().finally(() => {
      this.rebalancing = undefined;
    });
    return this.rebalancing;
  }

  private leaseKey(resource: string): string {
    return `lease.${resource}`;
  }

  /** Renews every held lease in parallel; fences those that could not be renewed in time. */
  private async renewAll(): Promise<void> {
    if (this.renewing) {
      this.fence();
      return;
    }
    this.renewing = true;
    try {
      await Promise.all([...this.held.keys()].map((resource) => this.renew(resource)));
    } finally {
      this.renewing = false;
      this.fence();
    }
  }

  private async renew(resource: string): Promise<void> {
    const { kv, replicaId, logger } = this.options;
    const held = this.held.get(resource);
    if (!held) return;
    const sentAt = this.now();
    try {
      const revision = await kv.update(this.leaseKey(resource), replicaId, held.revision);
      if (this.held.get(resource) === held) {
        held.revision = revision;
        held.renewedAt = sentAt;
      }
    } catch (err) {
      if (this.held.get(resource) !== held) return;
      if (renewalError(err) === 'lost') {
        logger.warn({ resource, err: String(err) }, 'lease lost to another replica; stopping its work');
        this.drop(resource, held);
      } else {
        logger.warn({ resource, err: String(err) }, 'lease renewal failed; keeping the lease and trying again');
      }
    }
  }

  /** Stops the work of leases that may expire before they can be renewed again. */
  private fence(): void {
    const now = this.now();
    for (const [resource, held] of [...this.held]) {
      if (leaseVerdict(held.renewedAt, now, this.options.ttlMs, this.fenceMarginMs) === 'fence') {
        this.options.logger.warn({ resource, sinceRenewalMs: now - held.renewedAt }, 'lease not renewed in time; stopping its work before it can expire');
        this.drop(resource, held);
      }
    }
  }

  /** Forgets a lease that is (or may soon be) someone else's and stops its work. */
  private drop(resource: string, held: Held): void {
    this.held.delete(resource);
    if (held.releasing) return;
    held.releasing = true;
    const work = held.work.then(() => this.callRelease(resource));
    this.dropped.add(work);
    void work.finally(() => this.dropped.delete(work));
  }

  private async callRelease(resource: string): Promise<void> {
    try {
      await this.options.onRelease(resource);
    } catch (err) {
      this.options.logger.error({ resource, err: String(err) }, 'stopping work on a lease failed');
    }
  }

  private async rebalance(): Promise<void> {
    if (this.stopped) return;
    const { kv, replicaId, logger } = this.options;
    try {
      await kv.put(`member.${replicaId}`, String(this.now()));
      const members = new Set<string>();
      for await (const key of await kv.keys('member.>')) members.add(key.slice('member.'.length));
      members.add(replicaId);

      const resources = new Set(this.options.resources());
      for (const resource of this.owned) if (!resources.has(resource)) this.release(resource);
      const share = Math.ceil(resources.size / Math.max(1, members.size));
      // Give back what is above our share, so newcomers can pick it up.
      for (const resource of this.owned.slice(share)) this.release(resource);
      // Take free resources up to our share.
      for (const resource of resources) {
        if (this.owned.length >= share || this.stopped) break;
        if (this.held.has(resource)) continue;
        const sentAt = this.now();
        let revision: number;
        try {
          revision = await kv.create(this.leaseKey(resource), replicaId);
        } catch {
          continue; // held by another replica (or a transient error: next pass)
        }
        if (this.stopped) {
          await kv.delete(this.leaseKey(resource), { previousSeq: revision }).catch(() => undefined);
          break;
        }
        const held: Held = { revision, renewedAt: sentAt, releasing: false, work: Promise.resolve() };
        this.held.set(resource, held);
        held.work = held.work.then(async () => {
          try {
            await this.options.onAcquire(resource);
          } catch (err) {
            logger.error({ resource, err: String(err) }, 'starting work on an acquired lease failed; releasing it');
            if (this.held.get(resource) === held) this.release(resource);
          }
        });
      }
    } catch (err) {
      logger.warn({ err: String(err) }, 'lease pass failed; retrying on the next round');
    }
  }

  /**
   * Stops working a resource and gives its lease back once drained; the lease keeps being
   * renewed meanwhile. Does not wait: renewals and other leases go on.
   */
  private release(resource: string): Promise<void> {
    const held = this.held.get(resource);
    if (!held) return Promise.resolve();
    if (held.releasing) return held.work;
    held.releasing = true;
    held.work = held.work.then(async () => {
      await this.callRelease(resource);
      if (this.held.get(resource) === held) {
        this.held.delete(resource);
        await this.options.kv.delete(this.leaseKey(resource), { previousSeq: held.revision }).catch(() => undefined);
      }
    });
    return held.work;
  }

  /** Stops working every resource (draining), then gives the leases back. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.rebalancing;
    await Promise.all([...this.held.keys()].map((resource) => this.release(resource)));
    // Leases dropped by a fence are no longer in `held`; their work may still be draining.
    await Promise.all([...this.dropped]);
    if (this.renewTimer) clearInterval(this.renewTimer);
    await this.options.kv.delete(`member.${this.options.replicaId}`).catch(() => undefined);
  }
}
