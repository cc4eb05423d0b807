import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamApiError } from '@nats-io/jetstream';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { connectBus, type Bus } from './connection.js';
import { LeanPublisher, NoStreamForSubjectError, PublishInterruptedError, PublishTimeoutError, WRONG_LAST_SEQUENCE_CODE } from './lean-publisher.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
const quiet = { info() {}, warn() {}, error() {} };
const bytes = (s: string) => new TextEncoder().encode(s);

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('LeanPublisher against the shared NATS', () => {
  const ns = `T_LEAN_${randomBytes(4).toString('hex').toUpperCase()}`;
  let bus: Bus;
  let publisher: LeanPublisher;

  beforeAll(async () => {
    bus = await connectBus({ url: NATS_URL, name: 'lean-publisher-test', logger: quiet });
    await bus.jsm.streams.add({ name: ns, subjects: [`${ns.toLowerCase()}.>`], max_msg_size: 2048, duplicate_window: 60_000_000_000 });
    publisher = new LeanPublisher(bus.nc, 10_000);
  });
  afterAll(async () => {
    publisher?.close();
    await bus?.jsm.streams.delete(ns).catch(() => undefined);
    await bus?.close();
  });

  it('stores messages, with their headers, and matches each acknowledgement to its publish', async () => {
    const subject = `${ns.toLowerCase()}.a`;
    const acks = await Promise.all(
      Array.from({ length: 500 }, (_, i) => {
        const h = natsHeaders();
        h.set('traceparent', `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`);
        return publisher.publish(subject, bytes(`m${i}`), { msgID: `id-${i}`, headers: h });
      }),
    );
    expect(acks.every((a) => a.stream === ns && !a.duplicate)).toBe(true);
    expect(new Set(acks.map((a) => a.seq)).size).toBe(500);
    // The i-th publish got the acknowledgement of the i-th message: its stored body says so.
    for (const i of [0, 123, 499]) {
      const stored = await bus.jsm.streams.getMessage(ns, { seq: acks[i]!.seq });
      expect(new TextDecoder().decode(stored!.data)).toBe(`m${i}`);
      expect(stored!.header.get('Nats-Msg-Id')).toBe(`id-${i}`);
      expect(stored!.header.get('traceparent')).toContain('1111');
    }
    expect(publisher.inFlight).toBe(0);
  });

  it('reports a message id already stored as a duplicate, and stores nothing twice', async () => {
    const subject = `${ns.toLowerCase()}.dup`;
    const first = await publisher.publish(subject, bytes('x'), { msgID: 'same' });
    const again = await publisher.publish(subject, bytes('x'), { msgID: 'same' });
    expect(first.duplicate).toBe(false);
    expect(again).toEqual({ stream: ns, seq: first.seq, duplicate: true });
    const info = await bus.jsm.streams.info(ns, { subjects_filter: subject });
    expect(info.state.subjects?.[subject]).toBe(1);
  });

  it('stores a message conditional on the last sequence of its subject, and refuses it with 10071 when that moved', async () => {
    const subject = `${ns.toLowerCase()}.cond`;
    // 0: nothing may be stored on the subject yet.
    const created = await publisher.publish(subject, bytes('v1'), { expectedLastSubjectSequence: 0 });
    const again = await publisher.publish(subject, bytes('v1 again'), { expectedLastSubjectSequence: 0 }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(JetStreamApiError);
    expect((again as JetStreamApiError).code).toBe(WRONG_LAST_SEQUENCE_CODE);
    // With other headers too (they are kept, the condition is added).
    const h = natsHeaders();
    h.set('traceparent', `00-${'3'.repeat(32)}-${'4'.repeat(16)}-01`);
    const updated = await publisher.publish(subject, bytes('v2'), { expectedLastSubjectSequence: created.seq, headers: h });
    const stale = await publisher.publish(subject, bytes('v3'), { expectedLastSubjectSequence: created.seq }).catch((e: unknown) => e);
    expect((stale as JetStreamApiError).code).toBe(WRONG_LAST_SEQUENCE_CODE);
    const last = await bus.jsm.streams.getMessage(ns, { last_by_subj: subject });
    expect(last!.seq).toBe(updated.seq);
    expect(new TextDecoder().decode(last!.data)).toBe('v2');
    expect(last!.header.get('Nats-Expected-Last-Subject-Sequence')).toBe(String(created.seq));
    expect(last!.header.get('traceparent')).toContain('3333');
    expect(publisher.inFlight).toBe(0);
  });

  it('fails with "no responders" when no stream stores the subject', async () => {
    const err = await publisher.publish(`${ns.toLowerCase()}x.none`, bytes('x'), { msgID: 'n1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoStreamForSubjectError);
    expect(String(err)).toMatch(/no responders/);
  });

  it("maps the stream's refusal of a message over max_msg_size to JetStream error 10054", async () => {
    const err = await publisher.publish(`${ns.toLowerCase()}.big`, new Uint8Array(4096)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JetStreamApiError);
    expect((err as JetStreamApiError).code).toBe(10054);
  });

  it("throws at once for a message over the server's max_payload, leaving nothing pending", async () => {
    const tooBig = new Uint8Array((bus.nc.info?.max_payload ?? 1_048_576) + 1);
    await expect(publisher.publish(`${ns.toLowerCase()}.huge`, tooBig)).rejects.toThrow(/max_payload/);
    expect(publisher.inFlight).toBe(0);
  });
});

/** A nats-server of this test's own, so it can be frozen and killed. */
class OwnNats {
  private child: ChildProcess | undefined;
  readonly storeDir = mkdtempSync(join(tmpdir(), 'inkstream-lean-'));
  port = 0;
  get url() {
    return `nats://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    this.port ||= await freePort();
    this.child = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir], { stdio: 'ignore' });
    await waitUntil('the private nats-server', () => answers(this.port));
  }
  signal(sig: NodeJS.Signals): void {
    this.child?.kill(sig);
  }
  /** SIGSTOP, returning once the kernel reports the process stopped (state T). */
  async freeze(): Promise<void> {
    this.signal('SIGSTOP');
    const pid = this.child?.pid;
    await waitUntil('the nats-server to be stopped', () => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('T') ?? false;
      } catch {
        return false;
      }
    });
  }
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    // SIGKILL ends a stopped process too; a SIGCONT first would let it answer what waits.
    child.kill('SIGKILL');
    await exited;
  }
  cleanup(): void {
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('data', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

describe('LeanPublisher when the server stalls or goes away (a private nats-server)', () => {
  const server = new OwnNats();
  let nc: NatsConnection;

  beforeAll(async () => {
    await server.start();
    nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 200, noAsyncTraces: true });
    const jsm = await (await import('@nats-io/jetstream')).jetstreamManager(nc);
    await jsm.streams.add({ name: 'LEAN', subjects: ['lean.>'] });
  });
  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    await server.stop();
    server.cleanup();
  });

  it('fails a publish the frozen server never acknowledges at its timeout, and works again after', async () => {
    const publisher = new LeanPublisher(nc, 800);
    expect((await publisher.publish('lean.a', bytes('before'), { msgID: 'b' })).duplicate).toBe(false);
    await server.freeze();
    try {
      const started = Date.now();
      const outcomes = await Promise.allSettled([
        publisher.publish('lean.a', bytes('frozen-1'), { msgID: 'f1' }),
        publisher.publish('lean.a', bytes('frozen-2'), { msgID: 'f2', timeoutMs: 1500 }),
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
      for (const o of outcomes) expect((o as PromiseRejectedResult).reason).toBeInstanceOf(PublishTimeoutError);
      expect(((outcomes[0] as PromiseRejectedResult).reason as Error).name).toBe('TimeoutError');
      // No publish waited much past its own timeout.
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(publisher.inFlight).toBe(0);
    } finally {
      server.signal('SIGCONT');
    }
    // The frozen publishes reach the server once it runs again; a retry with the same id is a
    // duplicate or a first store, never a second copy.
    const retried = await publisher.publish('lean.a', bytes('frozen-1'), { msgID: 'f1', timeoutMs: 20_000 });
    expect(retried.stream).toBe('LEAN');
    const jsm = await (await import('@nats-io/jetstream')).jetstreamManager(nc);
    await waitUntil('the frozen messages to be stored', async () => (await jsm.streams.info('LEAN')).state.messages === 3);
    publisher.close();
  });

  it('fails waiting publishes at once when the connection drops, and publishes again after the reconnect', async () => {
    const publisher = new LeanPublisher(nc, 60_000);
    await publisher.publish('lean.b', bytes('x'), { msgID: 'r0' });
    await server.freeze();
    const waiting = publisher.publish('lean.b', bytes('lost ack'), { msgID: 'r1' }).catch((e: unknown) => e);
    await waitUntil('the publish to be in flight', () => publisher.inFlight === 1);
    await server.stop(); // killed while frozen: the client sees the socket close
    const started = Date.now();
    const err = await waiting;
    expect(err).toBeInstanceOf(PublishInterruptedError);
    // Well before the 60 s timeout: the disconnect failed it.
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(publisher.inFlight).toBe(0);

    await server.start(); // same port and store: the client reconnects by itself
    await waitUntil('the reconnect', () => !nc.isClosed() && nc.info !== undefined && publisher.inFlight === 0);
    const ack = await publisher.publish('lean.b', bytes('after'), { msgID: 'r2', timeoutMs: 30_000 });
    expect(ack.stream).toBe('LEAN');
    // A retry of the interrupted publish is safe: stored once whatever happened before.
    await publisher.publish('lean.b', bytes('lost ack'), { msgID: 'r1', timeoutMs: 30_000 });
    const again = await publisher.publish('lean.b', bytes('lost ack'), { msgID: 'r1', timeoutMs: 30_000 });
    expect(again.duplicate).toBe(true);
    publisher.close();
  });

  it('fails a publish made while disconnected soon after the reconnect (nats.js never sends it), not at its timeout', async () => {
    // The publisher reads nats.js's own connected flag (it falls back to the status stream).
    expect(typeof (nc as unknown as { protocol: { connected: unknown } }).protocol.connected).toBe('boolean');
    const publisher = new LeanPublisher(nc, 120_000);
    await publisher.publish('lean.d', bytes('before'), { timeoutMs: 30_000 });
    const disconnected = (async () => {
      for await (const s of nc.status()) if (s.type === 'disconnect') return;
    })();
    await server.stop();
    await disconnected;
    await waitUntil('the publisher to see the disconnect', () => (publisher as unknown as { disconnected: boolean }).disconnected);
    const offline = publisher.publish('lean.d', bytes('offline'), { msgID: 'o1' }).catch((e: unknown) => e);
    await server.start();
    const started = Date.now();
    const err = await offline;
    expect(err).toBeInstanceOf(PublishInterruptedError);
    expect(String(err)).toMatch(/disconnected/);
    // Well before the 120 s timeout: the reconnect failed it.
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(publisher.inFlight).toBe(0);
    // Published after the reconnect: stored and acknowledged (once, whatever the dropped one did).
    await waitUntil('the reconnect', () => !(publisher as unknown as { disconnected: boolean }).disconnected);
    const ack = await publisher.publish('lean.d', bytes('offline'), { msgID: 'o1', timeoutMs: 30_000 });
    expect(ack.duplicate).toBe(false);
    publisher.close();
  });

  it('fails what waits, and refuses new publishes, once closed', async () => {
    const publisher = new LeanPublisher(nc, 60_000);
    await server.freeze();
    try {
      const waiting = publisher.publish('lean.c', bytes('x')).catch((e: unknown) => e);
      publisher.close();
      expect(await waiting).toBeInstanceOf(PublishInterruptedError);
      await expect(publisher.publish('lean.c', bytes('y'))).rejects.toBeInstanceOf(PublishInterruptedError);
    } finally {
      server.signal('SIGCONT');
    }
  });
});
