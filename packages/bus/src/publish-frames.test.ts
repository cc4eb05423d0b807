import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { connectBus, type Bus } from './connection.js';
import { LeanPublisher, PublishInterruptedError, type LeanPubAck } from './lean-publisher.js';
import { framesOf, headersText, SlabOutbound } from './publish-frames.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const quiet = { info() {}, warn() {}, error() {} };
const bytes = (s: string) => new TextEncoder().encode(s);

describe('SlabOutbound', () => {
  it('hands out what was queued, in order, and is empty after a drain or a reset', () => {
    const out = new SlabOutbound(() => true);
    expect(out.length()).toBe(0);
    out.fill(bytes('PUB a 1\r\n'), bytes('x'), new Uint8Array(0), bytes('\r\n'));
    expect(out.length()).toBe(1);
    expect(out.size()).toBe(12);
    expect(Buffer.from(out.drain()).toString()).toBe('PUB a 1\r\nx\r\n');
    expect(out.length()).toBe(0);
    out.fill(bytes('PING\r\n'));
    out.reset();
    expect(out.size()).toBe(0);
    expect(out.drain().length).toBe(0);
  });

  it('never overwrites a drained view while the socket may still hold it, and reuses the slab once it holds nothing', () => {
    let idle = false;
    const out = new SlabOutbound(() => idle);
    const chunk = (i: number) => new Uint8Array(10_000).fill(i % 251);
    const views: { view: Uint8Array; i: number }[] = [];
    const first = out.slab;
    for (let i = 0; i < 40; i++) {
      out.fill(chunk(i));
      views.push({ view: out.drain(), i });
    }
    // 400 kB through a 64 kB slab while the socket held everything: new slabs, old views intact.
    expect(out.slab).not.toBe(first);
    for (const { view, i } of views) expect(view.every((b) => b === i % 251)).toBe(true);
    idle = true;
    const slab = out.slab;
    for (let i = 0; i < 200; i++) {
      out.fill(chunk(i));
      expect(out.drain().every((b) => b === i % 251)).toBe(true);
    }
    // 2 MB more once the socket had taken everything: the same slab, from its front.
    expect(out.slab).toBe(slab);
  });

  it('keeps what is queued but not drained when it moves to another slab, and takes frames larger than a slab', () => {
    const out = new SlabOutbound(() => false);
    const big = randomBytes(300_000);
    out.fill(bytes('head '));
    out.fill(big);
    out.fill(bytes(' tail'));
    expect(Buffer.from(out.drain()).equals(Buffer.concat([bytes('head '), big, bytes(' tail')]))).toBe(true);
  });

  it('takes a frame written in place at reserve() without copying it', () => {
    const out = new SlabOutbound(() => true);
    out.fill(bytes('SUB x 1\r\n'));
    const at = out.reserve(6);
    out.slab.write('PING\r\n', at);
    out.fill(out.slab.subarray(at, at + 6));
    expect(Buffer.from(out.drain()).toString()).toBe('SUB x 1\r\nPING\r\n');
  });
});

describe('headersText', () => {
  it('writes the headers, then the message id and expected sequence, replacing headers of those names', () => {
    const h = natsHeaders();
    h.set('traceparent', '00-abc-def-01');
    h.append('X-Many', 'one');
    h.append('X-Many', 'two');
    h.set('Nats-Msg-Id', 'stale');
    expect(headersText(h, ' id-1 ', 7)).toBe(
      'NATS/1.0\r\ntraceparent: 00-abc-def-01\r\nX-Many: one\r\nX-Many: two\r\nNats-Msg-Id: id-1\r\nNats-Expected-Last-Subject-Sequence: 7\r\n\r\n',
    );
    expect(headersText(h, undefined, undefined)).toBe('NATS/1.0\r\ntraceparent: 00-abc-def-01\r\nX-Many: one\r\nX-Many: two\r\nNats-Msg-Id: stale\r\n\r\n');
  });

  it('is undefined when there is nothing to carry, and refuses a value that would end the header', () => {
    expect(headersText(undefined, undefined, undefined)).toBeUndefined();
    expect(headersText(natsHeaders(), undefined, undefined)).toBeUndefined();
    expect(() => headersText(undefined, 'a\r\nb', undefined)).toThrow(/\\r or \\n/);
  });
});

describe('framesOf', () => {
  it("refuses a connection whose nats.js internals are not the ones it relies on", () => {
    expect(() => framesOf({} as never)).toThrow(/client upgraded/);
    class Handler {
      outbound = { drain() {}, fill() {}, length: () => 0, reset() {}, size() {}, peek() {} };
      transport = { socket: undefined };
      outBytes = 0;
      outMsgs = 0;
      sendCommand() {
        if (this.outbound.length() === 0) queueMicrotask(() => undefined);
      }
      flushPending() {
        this.outbound.peek();
      }
    }
    // A handler that uses its outbound buffer in a way SlabOutbound does not implement.
    expect(() => framesOf({ protocol: new Handler(), _check() {} } as never)).toThrow(/outbound buffer differently \(.*peek/);
  });
});

describe('PublishFrames on the shared NATS', () => {
  const ns = `T_FRAMES_${randomBytes(4).toString('hex').toUpperCase()}`;
  const subject = (s: string) => `${ns.toLowerCase()}.${s}`;
  let bus: Bus;
  const protocolOf = () => (bus.nc as unknown as { protocol: { outbound: SlabOutbound; transport: { socket: Socket } } }).protocol;

  beforeAll(async () => {
    bus = await connectBus({ url: NATS_URL, name: 'publish-frames-test', logger: quiet });
    await bus.jsm.streams.add({ name: ns, subjects: [`${ns.toLowerCase()}.>`], duplicate_window: 60_000_000_000 });
  });
  afterAll(async () => {
    await bus?.jsm.streams.delete(ns).catch(() => undefined);
    await bus?.close();
  });

  /** The bytes `queue` puts in the outbound buffer, taken before they are flushed (whole frames). */
  async function queued(queue: () => void): Promise<string> {
    await bus.nc.flush();
    const outbound = protocolOf().outbound;
    expect(outbound).toBeInstanceOf(SlabOutbound);
    expect(outbound.size()).toBe(0);
    queue();
    return Buffer.from(outbound.drain()).toString('latin1');
  }

  it('queues byte for byte the frame nats.js queues for the same publish', async () => {
    const frames = framesOf(bus.nc);
    const data = bytes('{"payload":"é ✓"}');
    for (const [msgID, seq, trace] of [
      ['m-1', undefined, '00-11111111111111111111111111111111-2222222222222222-01'],
      ['m-2', 42, undefined],
      [undefined, 0, 'valeur é'],
      [undefined, undefined, undefined],
    ] as const) {
      const theirs = await queued(() => {
        const h = natsHeaders();
        if (trace) h.set('traceparent', trace);
        if (msgID !== undefined) h.set('Nats-Msg-Id', msgID);
        if (seq !== undefined) h.set('Nats-Expected-Last-Subject-Sequence', String(seq));
        bus.nc.publish(subject('same'), data, h.keys().length > 0 ? { reply: '_INBOX.x.1', headers: h } : { reply: '_INBOX.x.1' });
      });
      const ours = await queued(() => {
        const h = trace ? natsHeaders() : undefined;
        h?.set('traceparent', trace!);
        frames.publish(subject('same'), '_INBOX.x.1', headersText(h, msgID, seq), data);
      });
      expect(ours).toBe(theirs);
    }
  });

  it("refuses what nats.js refuses: a closed connection's publish, an invalid subject, a payload over max_payload", async () => {
    const frames = framesOf(bus.nc);
    expect(() => frames.publish('bad subject', '_INBOX.x.1', undefined, bytes('x'))).toThrow(expect.objectContaining({ name: 'InvalidSubjectError' }));
    expect(() => frames.publish(subject('x'), '_INBOX.x.1', undefined, new Uint8Array(bus.nc.info!.max_payload + 1))).toThrow(/max_payload/);
    const other = await connectBus({ url: NATS_URL, name: 'publish-frames-closed', logger: quiet });
    await other.close();
    expect(() => framesOf(other.nc).publish(subject('x'), '_INBOX.x.1', undefined, bytes('x'))).toThrow(expect.objectContaining({ name: 'ClosedConnectionError' }));
  });

  it('stores every message intact when the connection is cut mid-publish, and publishes again after the reconnect', async () => {
    const publisher = new LeanPublisher(bus.nc, 30_000);
    // Large enough that one turn's frames outgrow a slab while the corked socket holds them.
    const payload = (i: number) => Buffer.alloc(20_000 + (i % 7) * 3_000, `message ${i};`);
    const outcome = new Map<number, LeanPubAck | Error>();
    const reconnected = (async () => {
      for await (const s of bus.nc.status()) if (s.type === 'reconnect') return;
    })();
    const all: Promise<void>[] = [];
    for (let turn = 0; turn < 12; turn++) {
      for (let i = turn * 40; i < (turn + 1) * 40; i++) {
        all.push(publisher.publish(subject('cut'), payload(i), { msgID: `cut-${i}` }).then((ack) => void outcome.set(i, ack), (err: Error) => void outcome.set(i, err)));
        // Cut in the middle of a turn's publishes, with the turns before it in flight.
        if (turn === 6 && i === turn * 40 + 20) protocolOf().transport.socket.destroy();
      }
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(all);
    await reconnected;
    const interrupted = [...outcome].filter(([, o]) => o instanceof Error);
    for (const [, err] of interrupted) expect(err).toBeInstanceOf(PublishInterruptedError);
    expect(interrupted.length).toBeGreaterThan(0);
    // Retrying what failed (the same ids) stores each message once, whatever reached the server.
    await Promise.all(interrupted.map(async ([i]) => void outcome.set(i, await publisher.publish(subject('cut'), payload(i), { msgID: `cut-${i}`, timeoutMs: 30_000 }))));
    const acks = [...outcome].sort((a, b) => a[0] - b[0]).map(([, a]) => a as LeanPubAck);
    const info = await bus.jsm.streams.info(ns, { subjects_filter: subject('cut') });
    expect(info.state.subjects?.[subject('cut')]).toBe(480);
    for (const i of [0, 1, 239, 240, 241, 260, 261, 479]) {
      const stored = await bus.jsm.streams.getMessage(ns, { seq: acks[i]!.seq });
      expect(Buffer.from(stored!.data).equals(payload(i))).toBe(true);
      expect(stored!.header.get('Nats-Msg-Id')).toBe(`cut-${i}`);
    }
    publisher.close();
  });
});
