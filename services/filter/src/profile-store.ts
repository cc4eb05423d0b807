import { Buffer } from 'node:buffer';
import { partitionOf, type KV } from '@inkstream/bus';
import { emptyProfile, profileKey, type ProfileEntry } from '@inkstream/sync-routing';
import { deferred, type Deferred } from './deferred.js';
import { ProfileCache, type ProfileCacheLimits } from './profile-cache.js';
import { kvProfileReader, type ProfileReader } from './profile-reader.js';
import { kvProfileWriter, type ProfileWriter } from './profile-writer.js';

export interface ProfileStoreOptions extends ProfileCacheLimits {
  /** Called when a stored profile cannot be parsed (it is then treated as a new user's). */
  onUnreadable?: (key: string, err: unknown) => void;
  /**
   * Most bytes (JSON) of profiles staged or being written and not yet stored; a save over it
   * waits for room (back-pressure on the user's lane). Default DEFAULT_MAX_PENDING_BYTES.
   */
  maxPendingBytes?: number;
  /** How long a staged write waits for others to join its batch. Default 2 ms. */
  flushDelayMs?: number;
  /** Keys waiting to be written that start a flush at once. Default 256. */
  flushBatch?: number;
  /** Most KV puts in flight at once. Default 1,024. */
  maxPutsInFlight?: number;
  /** Backoff of a failed put: doubles from retryBaseMs up to retryMaxMs. Default 100 ms, 5 s. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Tries of a failing write of a partition being released before its waiters are failed. Default 3. */
  releaseAttempts?: number;
  /**
   * How puts are sent. The service passes a LeanProfileWriter (plain publishes to the bucket's
   * subjects through a LeanPublisher); default: through the KV client (`kv.put`), one request each.
   */
  writer?: ProfileWriter;
  /**
   * How profiles are read. The service passes a LeanProfileReader (direct gets with a shared
   * reply inbox, no request per read); default: through the KV client (`kv.get`).
   */
  reader?: ProfileReader;
}

export const DEFAULT_MAX_PENDING_BYTES = 16 * 1024 * 1024;

/** Users whose profile key `ref` remembers (about 150 bytes each). */
const MAX_ADDRESSES = 100_000;

/**
 * A user's profile as the filter addresses it: the KV key (hashed once per record), the ingest
 * partition of the user, and the revision `load` saw (the condition of the next write).
 */
export interface ProfileRef {
  readonly key: string;
  readonly partition: number;
  /** Set by `load`: KV revision of what it returned (0: nothing stored yet). */
  revision?: number;
  /** Set by `load` when it answered a staged profile: the save built on it must not outlive it. */
  staged?: object;
  /**
   * Set by `peek` (and `load`): the `head` given with the save of the profile answered (its JSON
   * without the processed keys, see `save`), when it was saved by this replica with one.
   */
  head?: string;
}

/** What `save` answers once the profile is staged. */
export interface SaveReceipt {
  /**
   * Resolves once a write that covers this profile is stored in KV; rejects when it never will
   * be (ProfileConflictError, or the partition was released with the write still failing). Ack
   * the records it covers only when it resolves; nak them when it rejects.
   */
  stored: Promise<void>;
}

/** Events of the write-behind, for metrics and logs. */
export interface ProfileStoreListener {
  /** A put failed for a reason other than a revision conflict and is retried after `delayMs`. */
  retry?: (key: string, attempt: number, delayMs: number, err: unknown) => void;
  /** A write found another revision than this replica last read or wrote: its view was stale. */
  conflict?: (key: string, partition: number) => void;
  /** A write of a partition being released was given up after failing: its records are naked. */
  abandoned?: (key: string, partition: number, err: unknown) => void;
}

/** A write was refused because the stored profile is no longer the revision this replica knew. */
export class ProfileConflictError extends Error {
  constructor(readonly key: string) {
    super(`profile ${key} was written by someone else (revision moved): this replica's view is stale`);
    this.name = 'ProfileConflictError';
  }
}

/** A save waited for room while its partition was being released. */
export class PartitionReleasingError extends Error {
  constructor(readonly partition: number) {
    super(`partition ${partition} is being released`);
    this.name = 'PartitionReleasingError';
  }
}

/** A profile value to write and everyone waiting for it (or for a value it replaced). */
interface Batch {
  profile: ProfileEntry;
  serialized: string;
  head: string | undefined;
  bytes: number;
  done: Deferred[];
}

/** A key with a write staged or in flight. */
interface Dirty {
  key: string;
  partition: number;
  /** Revision the next write is conditional on: the last this replica read or wrote. */
  base: number;
  /** Staged, not sent yet (the latest value wins). */
  next: Batch | undefined;
  /** Being written. */
  writing: Batch | undefined;
  /** Failed tries of the write now pending. */
  attempt: number;
  retryTimer: NodeJS.Timeout | undefined;
  /** A value whose put failed without an answer: it may be stored all the same. */
  uncertain: string | undefined;
  /** Given up (conflict, or abandoned on release): its staged values were never stored. */
  dropped: boolean;
}

interface RoomWaiter {
  partition: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const RESOLVED: Promise<void> = Promise.resolve();
const utf8 = new TextDecoder();

/** JetStream's answer to a write whose expected last subject sequence did not match. */
function isRevisionConflict(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  // JetStreamApiCodes.StreamWrongLastSequence / StreamWrongLastSequenceUnknown.
  if (e?.code === 10071 || e?.code === 10164) return true;
  return typeof e?.message === 'string' && /wrong last sequence/i.test(e.message);
}

/**
 * Profiles live in a JetStream KV bucket (durable across restarts and replicas), with an LRU
 * cache in front bounded by count and bytes: the filter replica that owns a user's partition is
 * its only writer.
 *
 * Writes are **write-behind**: `save` stages the profile at once (the user's next record reads
 * it) and answers a receipt whose `stored` resolves when the profile is in KV. Staged writes are
 * flushed every `flushDelayMs` or as soon as `flushBatch` keys wait, many puts at once; a key has
 * at most one put in flight, and saves made meanwhile coalesce into one write of the latest value.
 *
 * Writes are **fenced by revision**: each is conditional on the revision this replica last read
 * or wrote for the key (expected last subject sequence; 0 for a key never stored, the marker's
 * revision for a deleted or purged one), so a replica that lost its partition cannot overwrite
 * what the new owner wrote. A conflict means this replica's view of the user is stale: the key's
 * cached and staged values are dropped, every waiter of the key is failed with
 * ProfileConflictError (their records are naked and come back, to whoever owns the partition)
 * and the listener is told. A put that fails otherwise is retried with backoff, forever, while
 * its records stay unacked; once the partition is being released it is tried `releaseAttempts`
 * times and then its waiters are failed.
 *
 * Puts go through `options.writer`: in the service a LeanProfileWriter (plain publishes to
 * `$KV.<bucket>.<key>` through a LeanPublisher, no request per put), else the KV client.
 */
export class ProfileStore {
  readonly cache: ProfileCache;
  private readonly dirty = new Map<string, Dirty>();
  /** Keys with a staged batch, no put in flight and no retry pending: what a flush sends. */
  private readonly ready = new Set<string>();
  private readonly releasing = new Set<number>();
  private readonly roomWaiters: RoomWaiter[] = [];
  private listener: ProfileStoreListener = {};
  private pending = 0;
  private puts = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushQueued = false;
  /** Waiting for a partition's writes to settle. */
  private readonly settleWaiters = new Map<number, Set<() => void>>();
  private readonly maxPendingBytes: number;
  private readonly flushDelayMs: number;
  private readonly flushBatch: number;
  private readonly maxPutsInFlight: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly releaseAttempts: number;
  private readonly writer: ProfileWriter;
  private readonly reader: ProfileReader;
  /** Profile keys and partitions per project and user key (`ref`): the key is a hash, computed once per user. */
  private readonly addresses = new Map<string, Map<string, { key: string; partition: number }>>();
  private addressCount = 0;

  constructor(
    private readonly kv: KV,
    private readonly options: ProfileStoreOptions,
  ) {
    this.cache = new ProfileCache(options);
    this.maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    this.flushDelayMs = options.flushDelayMs ?? 2;
    this.flushBatch = options.flushBatch ?? 256;
    this.maxPutsInFlight = options.maxPutsInFlight ?? 1_024;
    this.retryBaseMs = options.retryBaseMs ?? 100;
    this.retryMaxMs = options.retryMaxMs ?? 5_000;
    this.releaseAttempts = options.releaseAttempts ?? 3;
    this.writer = options.writer ?? kvProfileWriter(kv);
    this.reader = options.reader ?? kvProfileReader(kv);
  }

  /** Where retries, conflicts and abandoned writes are reported (one listener). */
  listen(listener: ProfileStoreListener): void {
    this.listener = listener;
  }

  /** The user's profile address; hash it once per record and pass it to load and save. */
  ref(projectId: string, userKey: string): ProfileRef {
    let ofProject = this.addresses.get(projectId);
    if (ofProject === undefined) this.addresses.set(projectId, (ofProject = new Map()));
    let known = ofProject.get(userKey);
    if (known === undefined) {
      // Bounded: past the bound all are forgotten (computed again as they come).
      if (this.addressCount >= MAX_ADDRESSES) {
        this.addresses.clear();
        this.addresses.set(projectId, ofProject);
        ofProject.clear();
        this.addressCount = 0;
      }
      known = { key: profileKey(projectId, userKey), partition: partitionOf(userKey) };
      ofProject.set(userKey, known);
      this.addressCount++;
    }
    return { key: known.key, partition: known.partition };
  }

  /** Bytes (JSON) of profiles staged or being written, not yet stored. */
  get pendingBytes(): number {
    return this.pending;
  }

  /** Keys with a write staged or in flight. */
  get pendingKeys(): number {
    return this.dirty.size;
  }

  /**
   * The latest profile of a user when it is in memory (staged or cached), exactly as `load`
   * would answer it, without a promise; undefined when it must be read: then call `load`.
   */
  peek(ref: ProfileRef): ProfileEntry | undefined {
    const dirty = this.dirty.get(ref.key);
    ref.staged = dirty;
    if (dirty) {
      const batch = (dirty.next ?? dirty.writing)!;
      ref.revision = dirty.base;
      ref.head = batch.head;
      return batch.profile;
    }
    const cached = this.cache.entry(ref.key);
    ref.head = cached?.head;
    if (cached) {
      ref.revision = cached.revision;
      return cached.profile;
    }
    return undefined;
  }

  /** The latest profile of a user: staged, cached, or read from KV (and then cached). */
  async load(ref: ProfileRef): Promise<ProfileEntry> {
    const inMemory = this.peek(ref);
    if (inMemory) return inMemory;
    const stored = await this.reader.get(ref.key);
    ref.revision = stored?.revision ?? 0;
    if (!stored || stored.operation !== 'PUT' || stored.value.length === 0) return emptyProfile();
    let entry: ProfileEntry;
    try {
      entry = JSON.parse(utf8.decode(stored.value)) as ProfileEntry;
    } catch (err) {
      // Only the filter writes this bucket; a value that is not JSON can never become readable.
      this.options.onUnreadable?.(ref.key, err);
      return emptyProfile();
    }
    this.cache.set(ref.key, entry, stored.value.length, stored.revision, ref.partition);
    return entry;
  }

  /**
   * Stages a profile (`serialized` is its JSON when the caller has it already; `head`, when given,
   * is kept with it and handed back by the `peek` or `load` that answers it): the next `load`
   * answers it at once. Resolves once it is staged — after waiting for room when more than
   * maxPendingBytes are pending — with a receipt whose `stored` says when it is in KV. The key
   * must have been loaded first (that read is the revision the write is conditional on).
   */
  async save(ref: ProfileRef, entry: ProfileEntry, serialized = JSON.stringify(entry), head?: string): Promise<SaveReceipt> {
    while (this.pending >= this.maxPendingBytes) {
      if (this.releasing.has(ref.partition)) throw new PartitionReleasingError(ref.partition);
      await new Promise<void>((resolve, reject) => this.roomWaiters.push({ partition: ref.partition, resolve, reject }));
    }
    return this.stage(ref, entry, serialized, head);
  }

  /**
   * `save` without a promise when there is room now (the usual case): the receipt, or undefined
   * when the save would wait for room (or others wait for it already): then call `save`.
   */
  saveNow(ref: ProfileRef, entry: ProfileEntry, serialized: string, head?: string): SaveReceipt | undefined {
    if (this.pending >= this.maxPendingBytes || this.roomWaiters.length > 0) return undefined;
    return this.stage(ref, entry, serialized, head);
  }

  private stage(ref: ProfileRef, entry: ProfileEntry, serialized: string, head: string | undefined): SaveReceipt {
    if ((ref.staged as Dirty | undefined)?.dropped) {
      // Built on a staged profile that was given up since: it must not be stored either.
      const failed = deferred();
      failed.reject(new ProfileConflictError(ref.key));
      return { stored: failed.promise };
    }
    const bytes = Buffer.byteLength(serialized);
    let dirty = this.dirty.get(ref.key);
    if (!dirty) {
      // Loaded while a write was staged or in flight, which has been stored since: that write's
      // revision is the base (the one `load` saw is older).
      const base = (ref.staged as Dirty | undefined)?.base ?? ref.revision ?? this.cache.entry(ref.key)?.revision;
      if (base === undefined) throw new Error(`profile ${ref.key} saved without being loaded first`);
      dirty = {
        key: ref.key,
        partition: ref.partition,
        base,
        next: undefined,
        writing: undefined,
        attempt: 0,
        retryTimer: undefined,
        uncertain: undefined,
        dropped: false,
      };
      this.dirty.set(ref.key, dirty);
      // The staged value is the one read from now on; the cached one is superseded.
      this.cache.delete(ref.key);
    }
    let batch = dirty.next;
    if (batch) {
      this.pending += bytes - batch.bytes;
      batch.profile = entry;
      batch.serialized = serialized;
      batch.head = head;
      batch.bytes = bytes;
    } else {
      batch = { profile: entry, serialized, head, bytes, done: [deferred()] };
      dirty.next = batch;
      this.pending += bytes;
      if (!dirty.writing && !dirty.retryTimer) this.ready.add(ref.key);
    }
    this.scheduleFlush(this.releasing.has(ref.partition));
    this.roomFreed();
    return { stored: batch.done[batch.done.length - 1]!.promise };
  }

  /**
   * When the user's latest staged profile is stored: for a record that did not change the
   * profile but must not be acked before the records before it are stored.
   */
  stored(ref: ProfileRef): Promise<void> {
    const dirty = this.dirty.get(ref.key);
    const batch = dirty?.next ?? dirty?.writing;
    return batch ? batch.done[batch.done.length - 1]!.promise : RESOLVED;
  }

  /**
   * The replica starts working a partition: profiles of it cached from an earlier spell may
   * have been changed by another replica since, so they are forgotten (the rest of the cache
   * stays).
   */
  acquire(partition: number): void {
    this.releasing.delete(partition);
    this.cache.forgetPartition(partition);
  }

  /**
   * The partition is being given up: from now on a save of it does not wait for room (it fails,
   * and its record is naked), and a failing write of it is given up after `releaseAttempts`.
   */
  beginRelease(partition: number): void {
    this.releasing.add(partition);
    for (let i = this.roomWaiters.length - 1; i >= 0; i--) {
      const waiter = this.roomWaiters[i]!;
      if (waiter.partition !== partition) continue;
      this.roomWaiters.splice(i, 1);
      waiter.reject(new PartitionReleasingError(partition));
    }
    for (const dirty of this.dirty.values()) {
      if (dirty.partition !== partition || !dirty.retryTimer) continue;
      // Retry now rather than after a long backoff: the lease is running out.
      clearTimeout(dirty.retryTimer);
      dirty.retryTimer = undefined;
      if (dirty.next) this.ready.add(dirty.key);
    }
    this.scheduleFlush(true);
  }

  /**
   * Gives a partition up: writes its staged profiles now and resolves once each of them is stored
   * or failed (their waiters told either way); then forgets its cached profiles. Call it once no
   * more records of the partition are being processed.
   */
  async release(partition: number): Promise<void> {
    this.beginRelease(partition);
    while ([...this.dirty.values()].some((d) => d.partition === partition)) {
      await new Promise<void>((resolve) => {
        let set = this.settleWaiters.get(partition);
        if (!set) this.settleWaiters.set(partition, (set = new Set()));
        set.add(resolve);
      });
    }
    this.cache.forgetPartition(partition);
  }

  /** Forgets cached profiles (not the staged ones, which are being written). */
  clear(): void {
    this.cache.clear();
  }

  private scheduleFlush(now: boolean): void {
    if (this.ready.size === 0) return;
    if (now || this.ready.size >= this.flushBatch || this.flushDelayMs <= 0) {
      if (this.flushQueued) return;
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        this.flush();
      });
      return;
    }
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flush();
    }, this.flushDelayMs);
  }

  /** Sends a put for every key ready, up to maxPutsInFlight at once. */
  private flush(): void {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    for (const key of this.ready) {
      if (this.puts >= this.maxPutsInFlight) break;
      this.ready.delete(key);
      const dirty = this.dirty.get(key);
      if (dirty?.next && !dirty.writing && !dirty.retryTimer) this.write(dirty);
    }
  }

  private write(dirty: Dirty): void {
    const batch = dirty.next!;
    dirty.next = undefined;
    dirty.writing = batch;
    this.puts++;
    this.writer.put(dirty.key, batch.serialized, dirty.base).then(
      (revision) => this.written(dirty, batch, revision),
      (err: unknown) => void this.failed(dirty, batch, err),
    );
  }

  private written(dirty: Dirty, batch: Batch, revision: number): void {
    this.puts--;
    dirty.writing = undefined;
    dirty.base = revision;
    dirty.attempt = 0;
    dirty.uncertain = undefined;
    this.pending -= batch.bytes;
    for (const d of batch.done) d.resolve();
    if (dirty.next) {
      this.ready.add(dirty.key);
    } else {
      this.dirty.delete(dirty.key);
      this.cache.set(dirty.key, batch.profile, batch.bytes, revision, dirty.partition, batch.head);
      this.settled(dirty.partition);
    }
    this.roomFreed();
    this.scheduleFlush(this.releasing.has(dirty.partition));
  }

  private async failed(dirty: Dirty, batch: Batch, err: unknown): Promise<void> {
    if (isRevisionConflict(err)) {
      // A put that failed without an answer may have been stored all the same: then the
      // revision moved because of us, not someone else.
      const adopted = await this.adoptOwnWrite(dirty, batch);
      if (adopted === 'this') return this.written(dirty, batch, dirty.base);
      if (adopted === 'earlier' || adopted === 'recreate') {
        this.puts--;
        dirty.writing = undefined;
        this.requeue(dirty, batch);
        this.ready.add(dirty.key);
        this.scheduleFlush(true);
        return;
      }
      this.puts--;
      dirty.writing = undefined;
      this.listener.conflict?.(dirty.key, dirty.partition);
      this.drop(dirty, batch, new ProfileConflictError(dirty.key));
      return;
    }
    this.puts--;
    dirty.writing = undefined;
    dirty.uncertain = batch.serialized;
    dirty.attempt++;
    this.requeue(dirty, batch);
    if (this.releasing.has(dirty.partition) && dirty.attempt >= this.releaseAttempts) {
      this.listener.abandoned?.(dirty.key, dirty.partition, err);
      this.drop(dirty, undefined, err);
      return;
    }
    const delayMs = Math.min(this.retryBaseMs * 2 ** (dirty.attempt - 1), this.releasing.has(dirty.partition) ? this.retryBaseMs * 2 : this.retryMaxMs);
    this.listener.retry?.(dirty.key, dirty.attempt, delayMs, err);
    dirty.retryTimer = setTimeout(() => {
      dirty.retryTimer = undefined;
      if (this.dirty.get(dirty.key) !== dirty || !dirty.next) return;
      this.ready.add(dirty.key);
      this.scheduleFlush(true);
    }, delayMs);
  }

  /**
   * On a revision conflict: is the stored value one this replica wrote (a put that timed out but
   * was stored)? 'this': the batch just tried; 'earlier': an earlier try of an older value (base
   * is moved to it and the batch is written again); 'recreate': the write created the key (base
   * 0) and finds a delete or purge marker, which is no value either (as the KV client's `create`
   * does, the batch is written again on the marker's revision); undefined: someone else wrote.
   */
  private async adoptOwnWrite(dirty: Dirty, batch: Batch): Promise<'this' | 'earlier' | 'recreate' | undefined> {
    let stored;
    try {
      stored = await this.kv.get(dirty.key);
    } catch {
      return undefined;
    }
    if (stored && stored.operation !== 'PUT' && dirty.base === 0) {
      dirty.base = stored.revision;
      return 'recreate';
    }
    if (!stored || stored.operation !== 'PUT') return undefined;
    const value = Buffer.from(stored.value);
    if (value.equals(Buffer.from(batch.serialized))) {
      dirty.base = stored.revision;
      return 'this';
    }
    if (dirty.uncertain !== undefined && value.equals(Buffer.from(dirty.uncertain))) {
      dirty.base = stored.revision;
      dirty.uncertain = undefined;
      return 'earlier';
    }
    return undefined;
  }

  /** Puts a batch that was not stored back in front of the staged one (the latest value wins). */
  private requeue(dirty: Dirty, batch: Batch): void {
    const next = dirty.next;
    if (next) {
      next.done.unshift(...batch.done);
      this.pending -= batch.bytes;
    } else {
      dirty.next = batch;
    }
  }

  /** Gives a key up: its waiters are failed, its cached and staged values forgotten. */
  private drop(dirty: Dirty, writing: Batch | undefined, err: unknown): void {
    if (dirty.retryTimer) clearTimeout(dirty.retryTimer);
    dirty.retryTimer = undefined;
    for (const batch of [writing, dirty.next]) {
      if (!batch) continue;
      this.pending -= batch.bytes;
      for (const d of batch.done) d.reject(err);
    }
    dirty.next = undefined;
    dirty.dropped = true;
    this.dirty.delete(dirty.key);
    this.ready.delete(dirty.key);
    this.cache.delete(dirty.key);
    this.settled(dirty.partition);
    this.roomFreed();
  }

  private settled(partition: number): void {
    const waiters = this.settleWaiters.get(partition);
    if (!waiters) return;
    this.settleWaiters.delete(partition);
    for (const resolve of waiters) resolve();
  }

  /** Wakes the longest waiting save if there is room; it wakes the next once it has staged. */
  private roomFreed(): void {
    if (this.roomWaiters.length > 0 && this.pending < this.maxPendingBytes) this.roomWaiters.shift()!.resolve();
  }
}
