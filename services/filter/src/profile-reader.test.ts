import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, type Bus, type KV } from '@inkstream/bus';
import { createLogger } from '@inkstream/service-kit';
import { kvProfileReader, LeanProfileReader, openLeanProfileReader, type ProfileReader } from './profile-reader.js';
import { ProfileStore } from './profile-store.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const logger = createLogger('profile-reader-test', 'silent');

describe('LeanProfileReader against the shared NATS', () => {
  const tag = randomBytes(4).toString('hex');
  const bucket = `t_preader_${tag}`;
  const created: string[] = [];
  let bus: Bus;
  let kv: KV;
  let reader: ProfileReader;

  beforeAll(async () => {
    bus = await connectBus({ url: NATS_URL, name: 'profile-reader-test', logger });
    created.push(bucket);
    kv = await bus.kvm.create(bucket, { history: 1 });
    reader = await openLeanProfileReader(kv, bus.nc);
  });

  afterAll(async () => {
    if (reader instanceof LeanProfileReader) reader.close();
    for (const name of created) await bus.jsm.streams.delete(`KV_${name}`).catch(() => undefined);
    await bus?.close();
  });

  it('reads what kv.get reads: revision, operation and value; null for a key never written', async () => {
    expect(reader).toBeInstanceOf(LeanProfileReader);
    const viaKv = kvProfileReader(kv);
    expect(await reader.get('p1.never')).toBeNull();
    expect(await viaKv.get('p1.never')).toBeNull();
    await kv.put('p1.a', '{"v":1,"n":"é"}');
    const rev = await kv.put('p1.a', '{"v":1,"n":2}');
    // A key sharing the prefix is not the key.
    await kv.put('p1.ab', '{"v":1}');
    const lean = await reader.get('p1.a');
    expect(lean).toEqual({ revision: rev, operation: 'PUT', value: expect.any(Uint8Array) });
    expect(new TextDecoder().decode(lean!.value)).toBe('{"v":1,"n":2}');
    const both = await viaKv.get('p1.a');
    expect({ ...lean!, value: [...lean!.value] }).toEqual({ ...both!, value: [...both!.value] });
    await kv.delete('p1.a');
    expect(await reader.get('p1.a')).toMatchObject({ operation: 'DEL', revision: (await kv.get('p1.a'))!.revision });
    await kv.purge('p1.ab');
    expect(await reader.get('p1.ab')).toMatchObject({ operation: 'PURGE' });
    // Many at once, each answered with its own key's value.
    await Promise.all(Array.from({ length: 50 }, (_, i) => kv.put(`p1.k${i}`, `{"i":${i}}`)));
    const values = await Promise.all(Array.from({ length: 50 }, (_, i) => reader.get(`p1.k${i}`)));
    expect(values.map((v) => JSON.parse(new TextDecoder().decode(v!.value)).i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('a ProfileStore reading through it loads, saves on the revision read and loads a fresh copy again', async () => {
    const store = new ProfileStore(kv, { maxEntries: 0, maxBytes: 0, reader, flushDelayMs: 0 });
    const ref = store.ref('p2', 'user-1');
    const first = await store.load(ref);
    expect(first).toEqual({ v: 1, properties: {}, lastSeq: 0, identified: {} });
    const { stored } = await store.save(ref, { ...first, properties: { plan: 'pro' } });
    await stored;
    const again = store.ref('p2', 'user-1');
    expect(await store.load(again)).toEqual({ v: 1, properties: { plan: 'pro' }, lastSeq: 0, identified: {} });
    expect(again.revision).toBe((await kv.get(again.key))!.revision);
  });

  it('an unanswered read is rejected after its timeout (the filter retries it)', async () => {
    const lonely = new LeanProfileReader(bus.nc, `KV_missing_${tag}`, `$KV.missing_${tag}.`, 200);
    await expect(lonely.get('p1.a')).rejects.toThrow(/no answer within 200 ms|503|no responders/i);
    lonely.close();
  });
});
