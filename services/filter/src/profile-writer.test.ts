import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeanPublisher, WRONG_LAST_SEQUENCE_CODE, connectBus, type Bus, type KV } from '@inkstream/bus';
import { createLogger } from '@inkstream/service-kit';
import { LeanProfileWriter, UnsupportedProfileBucketError, openLeanProfileWriter } from './profile-writer.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const logger = createLogger('profile-writer-test', 'silent');

describe('LeanProfileWriter against the shared NATS', () => {
  const tag = randomBytes(4).toString('hex');
  const bucket = `t_pwriter_${tag}`;
  const created: string[] = [];
  let bus: Bus;
  let publisher: LeanPublisher;
  let kv: KV;
  let writer: LeanProfileWriter;

  const open = async (name: string, options: Parameters<Bus['kvm']['create']>[1] = {}) => {
    created.push(name);
    return bus.kvm.create(name, { history: 1, ...options });
  };

  beforeAll(async () => {
    bus = await connectBus({ url: NATS_URL, name: 'profile-writer-test', logger });
    publisher = new LeanPublisher(bus.nc);
    kv = await open(bucket);
    writer = await openLeanProfileWriter(kv, publisher);
  });

  afterAll(async () => {
    publisher?.close();
    for (const name of created) await bus.jsm.streams.delete(`KV_${name}`).catch(() => undefined);
    await bus?.close();
  });

  it('writes to $KV.<bucket>.<key> what kv.put with previousSeq writes: same subject, header, value and revision', async () => {
    expect(writer.subjectPrefix).toBe(`$KV.${bucket}.`);
    const viaWriter = await writer.put('p1.abc-_=', '{"v":1}', 0);
    const viaKv = await kv.put('p1.def', '{"v":1}', { previousSeq: 0 });
    const a = (await bus.jsm.streams.getMessage(`KV_${bucket}`, { seq: viaWriter }))!;
    const b = (await bus.jsm.streams.getMessage(`KV_${bucket}`, { seq: viaKv }))!;
    expect(a.subject).toBe(`$KV.${bucket}.p1.abc-_=`);
    expect(b.subject).toBe(`$KV.${bucket}.p1.def`);
    expect([...a.header.keys()]).toEqual([...b.header.keys()]);
    expect(a.header.get('Nats-Expected-Last-Subject-Sequence')).toBe('0');
    const entry = (await kv.get('p1.abc-_='))!;
    expect(entry.revision).toBe(viaWriter);
    expect(entry.string()).toBe('{"v":1}');
  });

  it('creates (0), updates (the last revision), and is refused with 10071 on any other revision', async () => {
    const r1 = await writer.put('p2.user', 'a', 0);
    const again = await writer.put('p2.user', 'b', 0).catch((e: unknown) => e);
    expect((again as { code?: number }).code).toBe(WRONG_LAST_SEQUENCE_CODE);
    const r2 = await writer.put('p2.user', 'c', r1);
    expect(r2).toBeGreaterThan(r1);
    const stale = await writer.put('p2.user', 'd', r1).catch((e: unknown) => e);
    expect((stale as { code?: number }).code).toBe(WRONG_LAST_SEQUENCE_CODE);
    expect((await kv.get('p2.user'))!.string()).toBe('c');
  });

  it('refuses a key the KV client would refuse, without sending it', async () => {
    for (const key of ['p4.*', 'p4.>', 'p4.a b', '.p4', 'p4.']) {
      await expect(writer.put(key, 'x', 0)).rejects.toThrow(/invalid key/);
      await expect(kv.put(key, 'x', { previousSeq: 0 })).rejects.toThrow(/invalid key/);
    }
    const info = await bus.jsm.streams.info(`KV_${bucket}`, { subjects_filter: `$KV.${bucket}.p4.>` });
    expect(info.state.subjects ?? {}).toEqual({});
  });

  it('writes a deleted or purged key on the revision of its marker (as kv.create does)', async () => {
    for (const how of ['delete', 'purge'] as const) {
      const key = `p3.${how}`;
      const r1 = await writer.put(key, 'a', 0);
      await kv[how](key);
      const marker = (await kv.get(key))!;
      expect(marker.revision).toBeGreaterThan(r1);
      expect((await writer.put(key, 'b', 0).catch((e: unknown) => e) as { code?: number }).code).toBe(WRONG_LAST_SEQUENCE_CODE);
      const r2 = await writer.put(key, 'b', marker.revision);
      expect((await kv.get(key))!).toMatchObject({ operation: 'PUT', revision: r2 });
    }
  });

  it('refuses at start-up a bucket it cannot write as the KV client would', async () => {
    const origin = `t_pwriter_o_${tag}`;
    await open(origin);
    const mirror = await open(`t_pwriter_m_${tag}`, { mirror: { name: origin } });
    await expect(openLeanProfileWriter(mirror, publisher)).rejects.toThrow(/mirrors/);
    const hexKeys = {
      key: { encode: (k: string) => Buffer.from(k).toString('hex'), decode: (k: string) => Buffer.from(k, 'hex').toString() },
      value: { encode: (v: Uint8Array) => v, decode: (v: Uint8Array) => v },
    };
    const encoded = await open(`t_pwriter_c_${tag}`, { codec: hexKeys as never });
    await expect(openLeanProfileWriter(encoded, publisher)).rejects.toBeInstanceOf(UnsupportedProfileBucketError);
    // A handle reaching JetStream through a domain or API prefix (the same bucket, flagged so).
    const prefixed = Object.assign(Object.create(Object.getPrototypeOf(kv) as object) as KV, kv, { useJsPrefix: true });
    await expect(openLeanProfileWriter(prefixed, publisher)).rejects.toThrow(/domain or API prefix/);
    await expect(openLeanProfileWriter({} as KV, publisher)).rejects.toThrow(/not an @nats-io\/kv Bucket/);
  });
});
