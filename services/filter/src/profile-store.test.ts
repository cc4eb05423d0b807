import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeanPublisher, connectBus, type Bus, type KV } from '@inkstream/bus';
import { createLogger } from '@inkstream/service-kit';
import { emptyProfile, type ProfileEntry } from '@inkstream/sync-routing';
import { PrivateNats, startTcpProxy, waitFor, type TcpProxy } from '@inkstream/testing';
import { ProfileConflictError, ProfileStore, type ProfileRef, type ProfileStoreOptions } from './profile-store.js';
import { kvProfileWriter, openLeanProfileWriter, type ProfileWriter } from './profile-writer.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const logger = createLogger('profile-store-test', 'silent');

const profile = (n: number, extra: Record<string, unknown> = {}): ProfileEntry => ({ v: 1, properties: { n, ...extra }, lastSeq: n, identified: {} });

/** State of a promise without waiting for it. */
async function state(p: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  const marker = Symbol('pending');
  try {
    const r = await Promise.race([p, new Promise((res) => setImmediate(() => res(marker)))]);
    return r === marker ? 'pending' : 'resolved';
  } catch {
    return 'rejected';
  }
}

interface Gate {
  open: () => void;
  wait: Promise<void>;
}
function gate(): Gate {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { open, wait };
}

/**
 * A real writer behind a wrapper that counts puts, can hold them behind a gate, and can fail
 * them (before they reach NATS, or after: stored, but the answer lost).
 */
function instrumented(inner: ProfileWriter) {
  const control = {
    puts: [] as Array<{ key: string; value: string }>,
    gate: undefined as Gate | undefined,
    failBefore: 0,
    failAfter: 0,
  };
  const writer: ProfileWriter = {
    async put(k, data, previousSeq) {
      control.puts.push({ key: k, value: data });
      if (control.gate) await control.gate.wait;
      if (control.failBefore > 0) {
        control.failBefore--;
        throw new Error('injected: put failed');
      }
      const revision = await inner.put(k, data, previousSeq);
      if (control.failAfter > 0) {
        control.failAfter--;
        throw new Error('injected: put answer lost (TimeoutError)');
      }
      return revision;
    },
  };
  return { writer, control };
}

/** The two ways puts are sent: every test runs with both. */
const writers: Array<[string, (kv: KV, bus: Bus) => Promise<ProfileWriter>]> = [
  ['the KV client', async (kv) => kvProfileWriter(kv)],
  ['the lean publisher', async (kv, bus) => openLeanProfileWriter(kv, new LeanPublisher(bus.nc))],
];

describe.each(writers)('ProfileStore write-behind through real NATS KV, puts through %s', (_how, makeWriter) => {
  const bucket = `t_pstore_${randomBytes(4).toString('hex')}`;
  let bus: Bus;
  let kv: KV;
  let base: ProfileWriter;

  beforeAll(async () => {
    bus = await connectBus({ url: NATS_URL, name: 'profile-store-test', logger });
    kv = await bus.kvm.create(bucket, { history: 1 });
    base = await makeWriter(kv, bus);
  });

  afterAll(async () => {
    await bus.jsm.streams.delete(`KV_${bucket}`).catch(() => undefined);
    await bus.close();
  });

  const store = (writer: ProfileWriter, options: Partial<ProfileStoreOptions> = {}) =>
    new ProfileStore(kv, { maxEntries: 1_000, maxBytes: 1024 * 1024, writer, ...options });
  const stored = async (ref: ProfileRef) => (await kv.get(ref.key))?.json<ProfileEntry>();

  it('stages at once and coalesces: N saves of a user, fewer puts, the last value stored, every save covered', async () => {
    const { writer: counted, control } = instrumented(base);
    const s = store(counted, { flushDelayMs: 20 });
    const ref = s.ref('p-coalesce', 'user-1');
    await s.load(ref);
    const receipts = [];
    for (let n = 1; n <= 50; n++) {
      receipts.push((await s.save(ref, profile(n))).stored);
      // The next record of the user reads the staged profile, before any write.
      expect(await s.load(ref)).toEqual(profile(n));
    }
    await Promise.all(receipts);
    expect(control.puts.length).toBeLessThan(50);
    expect(JSON.parse(control.puts.at(-1)!.value)).toEqual(profile(50));
    expect(await stored(ref)).toEqual(profile(50));
    expect(s.pendingBytes).toBe(0);
    expect(s.pendingKeys).toBe(0);
  });

  it('saves made while a put is in flight are written after it, as one put of the latest value', async () => {
    const { writer: counted, control } = instrumented(base);
    const s = store(counted, { flushDelayMs: 0 });
    const ref = s.ref('p-inflight', 'user-1');
    await s.load(ref);
    control.gate = gate();
    const first = (await s.save(ref, profile(1))).stored;
    await waitFor(() => control.puts.length === 1, 'the first put sent');
    const later = [];
    for (let n = 2; n <= 10; n++) later.push((await s.save(ref, profile(n))).stored);
    expect(await state(first)).toBe('pending');
    expect(s.stored(ref)).toBe(later.at(-1));
    control.gate.open();
    control.gate = undefined;
    await Promise.all([first, ...later]);
    expect(control.puts.map((p) => JSON.parse(p.value).lastSeq)).toEqual([1, 10]);
    expect(await stored(ref)).toEqual(profile(10));
  });

  it('a save after a load that saw a staged profile since stored builds on that write revision', async () => {
    const { writer: gated, control } = instrumented(base);
    const s = store(gated, { flushDelayMs: 0 });
    const conflicts: string[] = [];
    s.listen({ conflict: (key) => conflicts.push(key) });
    const ref = s.ref('p-after-staged', 'user-1');
    await s.load(ref);
    control.gate = gate();
    const first = (await s.save(ref, profile(1))).stored;
    await waitFor(() => control.puts.length === 1, 'the first put sent');
    // The user's next record reads the staged profile while its write is in flight...
    const next = s.ref('p-after-staged', 'user-1');
    expect(await s.load(next)).toEqual(profile(1));
    // ...and that write is stored before the record saves.
    control.gate.open();
    control.gate = undefined;
    await first;
    await (await s.save(next, profile(2))).stored;
    expect(conflicts).toEqual([]);
    expect(await stored(ref)).toEqual(profile(2));
  });

  it('many users are written side by side', async () => {
    const { writer: counted, control } = instrumented(base);
    const s = store(counted, { flushDelayMs: 5 });
    control.gate = gate();
    const receipts = [];
    for (let u = 0; u < 100; u++) {
      const ref = s.ref('p-wide', `user-${u}`);
      await s.load(ref);
      receipts.push((await s.save(ref, profile(u))).stored);
    }
    // All 100 puts are in flight at once: none waits for another.
    await waitFor(() => control.puts.length === 100, 'every put sent');
    control.gate.open();
    await Promise.all(receipts);
  });

  it('a revision conflict (a second store wrote the user) fails the stale writer, drops its view, and reads the winner after', async () => {
    const a = store(base, { flushDelayMs: 0 });
    const b = store(base, { flushDelayMs: 0 });
    const conflicts: string[] = [];
    a.listen({ conflict: (key) => conflicts.push(key) });
    const refA = a.ref('p-fence', 'user-1');
    await a.load(refA);
    await (await a.save(refA, profile(1))).stored;
    // Replica B takes the partition over and writes the user.
    const refB = b.ref('p-fence', 'user-1');
    expect(await b.load(refB)).toEqual(profile(1));
    await (await b.save(refB, profile(2, { by: 'b' }))).stored;
    // A still believes it owns the user: its next write is refused, not stored over B's.
    expect(await a.load(refA)).toEqual(profile(1));
    const staleWrite = (await a.save(refA, profile(3, { by: 'a' }))).stored;
    await expect(staleWrite).rejects.toBeInstanceOf(ProfileConflictError);
    expect(conflicts).toEqual([refA.key]);
    expect(await stored(refA)).toEqual(profile(2, { by: 'b' }));
    // A's cached view is gone: it reads what B wrote, and can then write on top of it.
    const again = a.ref('p-fence', 'user-1');
    expect(await a.load(again)).toEqual(profile(2, { by: 'b' }));
    await (await a.save(again, profile(4, { by: 'a' }))).stored;
    expect(await stored(again)).toEqual(profile(4, { by: 'a' }));
  });

  it('a user never stored is created with the revision 0 condition: a concurrent create by another store conflicts', async () => {
    const a = store(base, { flushDelayMs: 0 });
    const b = store(base, { flushDelayMs: 0 });
    const refA = a.ref('p-create', 'user-1');
    const refB = b.ref('p-create', 'user-1');
    await a.load(refA);
    await b.load(refB);
    expect(refA.revision).toBe(0);
    await (await b.save(refB, profile(1, { by: 'b' }))).stored;
    await expect((await a.save(refA, profile(1, { by: 'a' }))).stored).rejects.toBeInstanceOf(ProfileConflictError);
    expect(await stored(refA)).toEqual(profile(1, { by: 'b' }));
  });

  it('every save waiting on a conflicting write fails, and a save built on the dropped view fails too', async () => {
    const { writer: gated, control } = instrumented(base);
    const a = store(gated, { flushDelayMs: 0 });
    const b = store(base, { flushDelayMs: 0 });
    const ref = a.ref('p-fence-many', 'user-1');
    await a.load(ref);
    control.gate = gate();
    const first = (await a.save(ref, profile(1))).stored;
    await waitFor(() => control.puts.length === 1, 'the first put sent');
    const loadedStaged = a.ref('p-fence-many', 'user-1');
    await a.load(loadedStaged);
    const second = (await a.save(loadedStaged, profile(2))).stored;
    // Meanwhile another replica writes the user.
    const refB = b.ref('p-fence-many', 'user-1');
    await b.load(refB);
    await (await b.save(refB, profile(9, { by: 'b' }))).stored;
    const late = a.ref('p-fence-many', 'user-1');
    expect(await a.load(late)).toEqual(profile(2));
    control.gate.open();
    control.gate = undefined;
    await expect(first).rejects.toBeInstanceOf(ProfileConflictError);
    await expect(second).rejects.toBeInstanceOf(ProfileConflictError);
    // Its load saw the staged profile 2, which was never stored: the save on top of it fails too.
    await expect((await a.save(late, profile(3))).stored).rejects.toBeInstanceOf(ProfileConflictError);
    expect(await stored(ref)).toEqual(profile(9, { by: 'b' }));
    expect(a.pendingBytes).toBe(0);
  });

  it('a user deleted or purged before the load is written on the revision of its marker', async () => {
    const s = store(base, { flushDelayMs: 0 });
    const conflicts: string[] = [];
    s.listen({ conflict: (key) => conflicts.push(key) });
    for (const how of ['delete', 'purge'] as const) {
      const ref = s.ref('p-marker', `user-${how}`);
      await s.load(ref);
      await (await s.save(ref, profile(1))).stored;
      await kv[how](ref.key);
      const marker = (await kv.get(ref.key))!;
      expect(marker.operation).toBe(how === 'delete' ? 'DEL' : 'PURGE');
      s.clear();
      const again = s.ref('p-marker', `user-${how}`);
      expect(await s.load(again)).toEqual(emptyProfile());
      expect(again.revision).toBe(marker.revision);
      await (await s.save(again, profile(2, { how }))).stored;
      const entry = (await kv.get(ref.key))!;
      expect(entry.operation).toBe('PUT');
      expect(entry.revision).toBeGreaterThan(marker.revision);
      expect(entry.json<ProfileEntry>()).toEqual(profile(2, { how }));
    }
    expect(conflicts).toEqual([]);
  });

  it('a user never stored that is deleted before its first write is still created (as kv.create writes over a marker)', async () => {
    const s = store(base, { flushDelayMs: 0 });
    const conflicts: string[] = [];
    s.listen({ conflict: (key) => conflicts.push(key) });
    const ref = s.ref('p-create-over-marker', 'user-1');
    await s.load(ref);
    expect(ref.revision).toBe(0);
    await kv.delete(ref.key);
    await (await s.save(ref, profile(1))).stored;
    expect(conflicts).toEqual([]);
    expect(await stored(ref)).toEqual(profile(1));
  });

  it('a user deleted by someone else after this replica wrote it is a conflict: the stale profile is not written back', async () => {
    const s = store(base, { flushDelayMs: 0 });
    const conflicts: string[] = [];
    s.listen({ conflict: (key) => conflicts.push(key) });
    const ref = s.ref('p-deleted-under', 'user-1');
    await s.load(ref);
    await (await s.save(ref, profile(1))).stored;
    await kv.delete(ref.key);
    const next = s.ref('p-deleted-under', 'user-1');
    expect(await s.load(next)).toEqual(profile(1)); // cached: this replica does not know yet
    await expect((await s.save(next, profile(2))).stored).rejects.toBeInstanceOf(ProfileConflictError);
    expect(conflicts).toEqual([ref.key]);
    expect((await kv.get(ref.key))!.operation).toBe('DEL');
  });

  it('a replica that lost its lease cannot overwrite the new owner, however many writes it had staged', async () => {
    const a = store(base, { flushDelayMs: 50 });
    const b = store(base, { flushDelayMs: 0 });
    const conflicts: number[] = [];
    a.listen({ conflict: (_key, partition) => conflicts.push(partition) });
    const refA = a.ref('p-lease', 'user-1');
    await a.load(refA);
    await (await a.save(refA, profile(1))).stored;
    // A keeps working the user after its lease ran out: saves staged, not yet flushed.
    const staged = [];
    for (let n = 2; n <= 5; n++) {
      const r = a.ref('p-lease', 'user-1');
      await a.load(r);
      staged.push((await a.save(r, profile(n, { by: 'a' }))).stored);
    }
    // Meanwhile B took the partition and wrote the user.
    b.acquire(refA.partition);
    const refB = b.ref('p-lease', 'user-1');
    expect(await b.load(refB)).toEqual(profile(1));
    await (await b.save(refB, profile(2, { by: 'b' }))).stored;
    for (const receipt of staged) await expect(receipt).rejects.toBeInstanceOf(ProfileConflictError);
    expect(conflicts).toEqual([refA.partition]);
    expect(await stored(refA)).toEqual(profile(2, { by: 'b' }));
    expect(a.pendingKeys).toBe(0);
  });

  it('a failing put is retried with backoff until stored; the receipt resolves only then', async () => {
    const { writer: flaky, control } = instrumented(base);
    const s = store(flaky, { flushDelayMs: 0, retryBaseMs: 20 });
    const retries: number[] = [];
    s.listen({ retry: (_key, attempt) => retries.push(attempt) });
    const ref = s.ref('p-retry', 'user-1');
    await s.load(ref);
    control.failBefore = 3;
    const receipt = (await s.save(ref, profile(1))).stored;
    await waitFor(() => retries.length >= 1, 'a retry');
    expect(await state(receipt)).toBe('pending');
    await receipt;
    expect(retries).toEqual([1, 2, 3]);
    expect(await stored(ref)).toEqual(profile(1));
  });

  it('a put stored whose answer was lost is recognised on retry, not taken for a conflict', async () => {
    const { writer: lossy, control } = instrumented(base);
    const s = store(lossy, { flushDelayMs: 0, retryBaseMs: 20 });
    const conflicts: string[] = [];
    s.listen({ conflict: (key) => conflicts.push(key) });
    const ref = s.ref('p-lost-answer', 'user-1');
    await s.load(ref);
    control.failAfter = 1;
    await (await s.save(ref, profile(1))).stored;
    expect(conflicts).toEqual([]);
    // And the store goes on from the revision it adopted.
    const next = s.ref('p-lost-answer', 'user-1');
    await s.load(next);
    await (await s.save(next, profile(2))).stored;
    expect(await stored(ref)).toEqual(profile(2));
  });

  it('over maxPendingBytes a save waits for room (back-pressure) until writes are stored', async () => {
    const { writer: gated, control } = instrumented(base);
    const s = store(gated, { flushDelayMs: 0, maxPendingBytes: 10_000 });
    control.gate = gate();
    const big = (n: number) => profile(n, { bio: 'b'.repeat(6_000) });
    const r1 = s.ref('p-room', 'user-1');
    const r2 = s.ref('p-room', 'user-2');
    const r3 = s.ref('p-room', 'user-3');
    for (const r of [r1, r2, r3]) await s.load(r);
    const first = (await s.save(r1, big(1))).stored;
    const second = (await s.save(r2, big(2))).stored;
    expect(s.pendingBytes).toBeGreaterThan(10_000);
    const third = s.save(r3, big(3));
    expect(await state(third)).toBe('pending');
    control.gate.open();
    control.gate = undefined;
    await Promise.all([first, second]);
    await (await third).stored;
    expect(await stored(r3)).toEqual(big(3));
  });

  it('release writes the partition staged profiles at once and resolves after they are stored', async () => {
    const s = store(base, { flushDelayMs: 60_000, flushBatch: 1_000 });
    const ref = s.ref('p-release', 'user-1');
    await s.load(ref);
    const receipt = (await s.save(ref, profile(1))).stored;
    expect(await state(receipt)).toBe('pending');
    await s.release(ref.partition);
    expect(await state(receipt)).toBe('resolved');
    expect(await stored(ref)).toEqual(profile(1));
    expect(s.cache.size).toBe(0);
  });

  it('release with a write that keeps failing gives it up after a few tries: its waiters fail, nothing stays pending', async () => {
    const { writer: broken, control } = instrumented(base);
    const s = store(broken, { flushDelayMs: 0, retryBaseMs: 10, retryMaxMs: 60_000, releaseAttempts: 3 });
    const abandoned: string[] = [];
    s.listen({ abandoned: (key) => abandoned.push(key) });
    const ref = s.ref('p-release-broken', 'user-1');
    await s.load(ref);
    control.failBefore = Number.POSITIVE_INFINITY;
    const receipt = (await s.save(ref, profile(1))).stored;
    await waitFor(() => control.puts.length >= 2, 'the put failing and retried');
    await s.release(ref.partition);
    await expect(receipt).rejects.toThrow('injected');
    expect(abandoned).toEqual([ref.key]);
    expect(s.pendingKeys).toBe(0);
    expect(s.pendingBytes).toBe(0);
    expect(await stored(ref)).toBeUndefined();
  });

  it('acquiring a partition forgets only its cached profiles', async () => {
    const s = store(base, { flushDelayMs: 0 });
    const refs: ProfileRef[] = [];
    for (let u = 0; refs.length < 20; u++) refs.push(s.ref('p-acquire', `user-${u}`));
    for (const [n, ref] of refs.entries()) {
      await s.load(ref);
      await (await s.save(ref, profile(n))).stored;
    }
    expect(s.cache.size).toBe(20);
    const partition = refs[0]!.partition;
    const others = refs.filter((r) => r.partition !== partition).length;
    s.acquire(partition);
    expect(s.cache.size).toBe(others);
    expect(s.cache.keys()).not.toContain(refs[0]!.key);
  });
});

describe.each(writers)('ProfileStore while NATS is briefly unreachable (private nats-server), puts through %s', (_how, makeWriter) => {
  const bucket = 'profiles_outage';
  let server: PrivateNats;
  let proxy: TcpProxy;
  /** The replica under test, connected through the proxy (cut to simulate the outage). */
  let bus: Bus;
  /** Another replica, connected straight to the server. */
  let other: Bus;
  let kv: KV;
  let otherKv: KV;

  beforeAll(async () => {
    server = new PrivateNats();
    await server.start();
    proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    bus = await connectBus({ url: `nats://127.0.0.1:${proxy.port}`, name: 'profile-store-outage', logger });
    other = await connectBus({ url: server.url, name: 'profile-store-other', logger });
    kv = await bus.kvm.create(bucket, { history: 1 });
    otherKv = await other.kvm.create(bucket, { history: 1 });
  }, 60_000);

  afterAll(async () => {
    await bus?.close().catch(() => undefined);
    await other?.close().catch(() => undefined);
    await proxy?.close();
    await server?.stop();
  });

  const options = { maxEntries: 1_000, maxBytes: 1024 * 1024, flushDelayMs: 0, retryBaseMs: 50, retryMaxMs: 500 };
  const stored = async (key: string) => (await otherKv.get(key))?.json<ProfileEntry>();

  it('a write made while the connection is cut is stored once it is back, as the latest value', async () => {
    const s = new ProfileStore(kv, { ...options, writer: await makeWriter(kv, bus) });
    const conflicts: string[] = [];
    s.listen({ conflict: (key) => conflicts.push(key) });
    const ref = s.ref('p-cut', 'user-1');
    await s.load(ref);
    await (await s.save(ref, profile(1))).stored;
    proxy.cut();
    await waitFor(() => !bus.isConnected(), 'the connection to drop', 30_000, 20);
    const receipts = [];
    for (let n = 2; n <= 4; n++) {
      const r = s.ref('p-cut', 'user-1');
      await s.load(r);
      receipts.push((await s.save(r, profile(n))).stored);
    }
    await new Promise((r) => setTimeout(r, 700));
    expect(await state(receipts.at(-1)!)).toBe('pending');
    proxy.restore();
    await Promise.all(receipts);
    expect(conflicts).toEqual([]);
    expect(await stored(ref.key)).toEqual(profile(4));
    expect(s.pendingKeys).toBe(0);
  }, 60_000);

  it('a write held up by the outage never lands over the newer profile another replica wrote meanwhile', async () => {
    const s = new ProfileStore(kv, { ...options, writer: await makeWriter(kv, bus) });
    const newOwner = new ProfileStore(otherKv, { ...options, writer: await makeWriter(otherKv, other) });
    const conflicts: string[] = [];
    s.listen({ conflict: (key) => conflicts.push(key) });
    const ref = s.ref('p-cut-fence', 'user-1');
    await s.load(ref);
    await (await s.save(ref, profile(1))).stored;
    proxy.cut();
    await waitFor(() => !bus.isConnected(), 'the connection to drop', 30_000, 20);
    const r = s.ref('p-cut-fence', 'user-1');
    await s.load(r);
    const stale = (await s.save(r, profile(2, { by: 'old owner' }))).stored;
    // The lease ran out during the outage: the other replica works the user now.
    newOwner.acquire(ref.partition);
    const refB = newOwner.ref('p-cut-fence', 'user-1');
    expect(await newOwner.load(refB)).toEqual(profile(1));
    await (await newOwner.save(refB, profile(2, { by: 'new owner' }))).stored;
    proxy.restore();
    await expect(stale).rejects.toBeInstanceOf(ProfileConflictError);
    expect(conflicts).toEqual([ref.key]);
    expect(await stored(ref.key)).toEqual(profile(2, { by: 'new owner' }));
    // Whatever the reconnect replayed was refused too: still the new owner's.
    await new Promise((res) => setTimeout(res, 300));
    expect(await stored(ref.key)).toEqual(profile(2, { by: 'new owner' }));
  }, 60_000);

  it('a write across a nats-server restart is retried until stored', async () => {
    const s = new ProfileStore(kv, { ...options, writer: await makeWriter(kv, bus) });
    const retries: string[] = [];
    s.listen({ retry: (_key, _attempt, _delay, err) => retries.push(String(err)) });
    const ref = s.ref('p-restart', 'user-1');
    await s.load(ref);
    await (await s.save(ref, profile(1))).stored;
    await server.kill();
    await waitFor(() => !bus.isConnected(), 'the connection to drop', 30_000, 20);
    const r = s.ref('p-restart', 'user-1');
    await s.load(r);
    const receipt = (await s.save(r, profile(2))).stored;
    await new Promise((res) => setTimeout(res, 500));
    expect(await state(receipt)).toBe('pending');
    await server.start();
    await receipt;
    expect(await stored(ref.key)).toEqual(profile(2));
  }, 90_000);
});
