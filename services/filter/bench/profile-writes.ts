/**
 * Micro-benchmark of profile writes: N users' profiles staged in a ProfileStore and flushed to a
 * KV bucket on the NATS at NATS_URL, puts through the KV client ('kv') or the lean publisher
 * ('lean'), one round creating every user (revision 0) then one updating every user. Prints the
 * wall time, puts/s and CPU µs of this process per put of each round. The modes alternate
 * (ROUNDS times each) so both see the same machine load.
 *
 *   npx tsx bench/profile-writes.ts [kv|lean|both] (USERS=20000 ROUNDS=3)
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-writes.ts lean
 */
import { randomBytes } from 'node:crypto';
import { LeanPublisher, connectBus } from '@inkstream/bus';
import { createLogger } from '@inkstream/service-kit';
import type { ProfileEntry } from '@inkstream/sync-routing';
import { ProfileStore, type ProfileRef } from '../src/profile-store.js';
import { kvProfileWriter, openLeanProfileWriter, type ProfileWriter } from '../src/profile-writer.js';

const users = Number(process.env.USERS ?? 20_000);
const rounds = Number(process.env.ROUNDS ?? 3);
const which = process.argv[2] ?? 'both';
const modes = which === 'both' ? ['kv', 'lean'] : [which];

const bus = await connectBus({ url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', name: 'bench-profile-writes', logger: createLogger('bench', 'silent') });
const bucket = `bench_pw_${randomBytes(4).toString('hex')}`;
const kv = await bus.kvm.create(bucket, { history: 1 });
const writers: Record<string, ProfileWriter> = {
  kv: kvProfileWriter(kv),
  lean: await openLeanProfileWriter(kv, new LeanPublisher(bus.nc)),
};

function profileOf(u: number, n: number): ProfileEntry {
  return {
    v: 1,
    properties: { email: `user-${u}@example.com`, plan: 'pro', country: 'FR', visits: n, score: u % 97, tags: ['a', 'b'] },
    lastSeq: n,
    identified: { email: `user-${u}@example.com` },
  };
}

interface Figures {
  ms: number;
  putsPerS: number;
  cpuUsPerPut: number;
}

async function round(store: ProfileStore, refs: ProfileRef[], n: number): Promise<Figures> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const receipts: Array<Promise<void>> = [];
  for (let u = 0; u < refs.length; u++) {
    const ref = refs[u]!;
    store.peek(ref); // what the filter does first: the revision of the write (cached after round 1)
    const entry = profileOf(u, n);
    const receipt = store.saveNow(ref, entry, JSON.stringify(entry)) ?? (await store.save(ref, entry));
    receipts.push(receipt.stored);
  }
  await Promise.all(receipts);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  return { ms, putsPerS: Math.round((refs.length / ms) * 1000), cpuUsPerPut: (cpu.user + cpu.system) / refs.length };
}

const results: Record<string, { create: Figures[]; update: Figures[] }> = {};
for (let r = 0; r < rounds; r++) {
  for (const mode of modes) {
    const store = new ProfileStore(kv, { maxEntries: users * 2, maxBytes: 512 * 1024 * 1024, maxPendingBytes: 256 * 1024 * 1024, writer: writers[mode]! });
    const project = `b${r}${mode}`;
    const refs = Array.from({ length: users }, (_, u) => {
      const ref = store.ref(project, `user-${u}`);
      ref.revision = 0; // a new user (skips the read: only writes are measured)
      return ref;
    });
    const create = await round(store, refs, 1);
    const update = await round(store, refs, 2);
    (results[mode] ??= { create: [], update: [] }).create.push(create);
    results[mode]!.update.push(update);
    console.log(
      `${mode.padEnd(4)} round ${r + 1}: create ${create.putsPerS} puts/s ${create.cpuUsPerPut.toFixed(1)} µs CPU/put (${create.ms.toFixed(0)} ms); ` +
        `update ${update.putsPerS} puts/s ${update.cpuUsPerPut.toFixed(1)} µs CPU/put (${update.ms.toFixed(0)} ms)`,
    );
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [mode, { create, update }] of Object.entries(results)) {
  console.log(
    `${mode} median of ${rounds}: create ${median(create.map((f) => f.putsPerS))} puts/s ${median(create.map((f) => f.cpuUsPerPut)).toFixed(1)} µs/put; ` +
      `update ${median(update.map((f) => f.putsPerS))} puts/s ${median(update.map((f) => f.cpuUsPerPut)).toFixed(1)} µs/put`,
  );
}
await bus.jsm.streams.delete(`KV_${bucket}`);
await bus.close();
