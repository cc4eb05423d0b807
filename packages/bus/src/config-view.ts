import type { KV } from '@nats-io/kv';
import type { ConfigSnapshot, ProjectSnapshot, SyncSnapshot } from '@inkstream/contracts';
import type { BusLogger } from './connection.js';
import { openConfigBucket } from './declare.js';
import { defaultStartupRetry, type StartupRetry } from './startup-retry.js';
import type { Topology } from './topology.js';

export type ConfigChangeListener = (next: ConfigSnapshot, previous: ConfigSnapshot | undefined) => void;

/**
 * The configuration as a service other than config sees it: built from the snapshots the
 * config service writes to the config bucket, kept current by a watch. Never reads Postgres.
 */
export class ConfigView {
  readonly projects = new Map<string, ProjectSnapshot>();
  readonly syncs = new Map<string, SyncSnapshot>();
  private readonly projectIdByKeyHash = new Map<string, string>();
  private readonly syncIdsByProject = new Map<string, Set<string>>();
  private readonly listeners: ConfigChangeListener[] = [];
  private stopWatch: (() => void) | undefined;

  constructor(private readonly logger: BusLogger) {}

  onChange(listener: ConfigChangeListener): void {
    this.listeners.push(listener);
  }

  /**
   * Resolves once every snapshot that existed at start-up has been applied. JetStream not
   * answering yet is retried until the start-up's deadline (30 s without one), and the initial
   * load may not take longer than that either.
   */
  async start(kv: KV, startup?: StartupRetry): Promise<void> {
    const patience = defaultStartupRetry(startup, 30_000, this.logger);
    const { lastSeq, watcher } = await patience.run('JetStream (loading the config snapshots)', async () => {
      const status = await kv.status();
      const lastSeq = (status as unknown as { streamInfo: { state: { last_seq: number } } }).streamInfo.state.last_seq;
      return { lastSeq, watcher: await kv.watch({ key: '>' }) };
    });
    let markReady!: () => void;
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    if (lastSeq === 0) markReady();
    this.stopWatch = () => watcher.stop();
    void (async () => {
      for await (const entry of watcher) {
        if (entry.operation === 'PUT') {
          try {
            this.apply(entry.json<ConfigSnapshot>());
          } catch (err) {
            this.logger.error({ key: entry.key, err: String(err) }, 'unreadable config snapshot ignored');
          }
        }
        if (entry.revision >= lastSeq) markReady();
      }
    })();
    try {
      await patience.within(`the config bucket (its ${lastSeq} snapshot revisions)`, ready);
    } catch (err) {
      watcher.stop();
      throw err;
    }
  }

  stop(): void {
    this.stopWatch?.();
  }

  /** Applies a snapshot unless an equal or newer version is already known. */
  apply(next: ConfigSnapshot): boolean {
    const previous = next.kind === 'project' ? this.projects.get(next.id) : this.syncs.get(next.id);
    if (previous && previous.version >= next.version) return false;
    if (next.kind === 'project') {
      if (previous?.kind === 'project') this.projectIdByKeyHash.delete(previous.apiKeyHash);
      this.projects.set(next.id, next);
      if (!next.deleted) this.projectIdByKeyHash.set(next.apiKeyHash, next.id);
    } else {
      this.syncs.set(next.id, next);
      let ids = this.syncIdsByProject.get(next.projectId);
      if (!ids) this.syncIdsByProject.set(next.projectId, (ids = new Set()));
      ids.add(next.id);
    }
    for (const listener of this.listeners) {
      try {
        listener(next, previous);
      } catch (err) {
        this.logger.error({ id: next.id, err: String(err) }, 'config change listener failed');
      }
    }
    return true;
  }

  /** The live project an api key (by its sha256 hex) belongs to. */
  projectForKeyHash(keyHash: string): ProjectSnapshot | undefined {
    const id = this.projectIdByKeyHash.get(keyHash);
    const project = id ? this.projects.get(id) : undefined;
    return project && !project.deleted ? project : undefined;
  }

  /** Syncs that deliver now: enabled, not deleted, of a live project. */
  activeSyncsOf(projectId: string): SyncSnapshot[] {
    const project = this.projects.get(projectId);
    if (!project || project.deleted) return [];
    const out: SyncSnapshot[] = [];
    for (const id of this.syncIdsByProject.get(projectId) ?? []) {
      const sync = this.syncs.get(id);
      if (sync && sync.enabled && !sync.deleted) out.push(sync);
    }
    return out;
  }

  isActive(sync: SyncSnapshot): boolean {
    const project = this.projects.get(sync.projectId);
    return sync.enabled && !sync.deleted && !!project && !project.deleted;
  }

  counts(): { projects: number; syncs: number; activeSyncs: number } {
    let activeSyncs = 0;
    for (const s of this.syncs.values()) if (this.isActive(s)) activeSyncs++;
    let projects = 0;
    for (const p of this.projects.values()) if (!p.deleted) projects++;
    return { projects, syncs: this.syncs.size, activeSyncs };
  }
}

/** The configuration view every non-config service starts with: loaded, then kept current. */
export async function openConfigView(
  kvm: import('@nats-io/kv').Kvm,
  topology: Topology,
  logger: BusLogger,
  startup?: StartupRetry,
): Promise<ConfigView> {
  const view = new ConfigView(logger);
  await view.start(await openConfigBucket(kvm, topology, { logger, startup }), startup);
  return view;
}
