import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectBus, type Bus } from './connection.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const quiet = { info() {}, warn() {}, error() {} };

/** The socket under a connection (nats.js internals: the transport of its protocol handler). */
function socketOf(bus: Bus): Socket {
  const socket = (bus.nc as unknown as { protocol: { transport: { socket: Socket } } }).protocol.transport.socket;
  expect(socket).toBeDefined();
  return socket;
}

/** Counts the writes that reach the socket's handle (one system call each). */
function countWrites(socket: Socket): { writes: number } {
  const seen = { writes: 0 };
  const s = socket as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const write = s._write.bind(socket);
  const writev = s._writev.bind(socket);
  s._write = (...a) => {
    seen.writes++;
    write(...a);
  };
  s._writev = (...a) => {
    seen.writes++;
    writev(...a);
  };
  return seen;
}

describe('NATS socket writes, one per event-loop turn', () => {
  const buses: Bus[] = [];
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
  });
  const open = async () => {
    const bus = await connectBus({ url: NATS_URL, name: 'socket-writes-test', logger: quiet });
    buses.push(bus);
    return bus;
  };

  it('writes the commands of many promise steps of one turn together, and every message arrives in order', async () => {
    const [sender, receiver] = [await open(), await open()];
    const subject = `socket_writes.${randomBytes(4).toString('hex')}`;
    const got: string[] = [];
    const sub = receiver.nc.subscribe(subject, { callback: (_err, msg) => void got.push(msg.string()) });
    await receiver.nc.flush();
    await sender.nc.flush();
    const writes = countWrites(socketOf(sender));
    // Each publish is followed by a promise step: nats.js alone writes its buffer at each one.
    for (let i = 0; i < 200; i++) {
      sender.nc.publish(subject, `m${i}`);
      await Promise.resolve();
    }
    await sender.nc.flush();
    await receiver.nc.flush();
    for (let tries = 0; got.length < 200 && tries < 100; tries++) await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
    // 200 publishes and the flush's PING: a handful of writes, not one per publish.
    expect(writes.writes).toBeLessThanOrEqual(5);
    sub.unsubscribe();
  });

  it('still writes commands queued across turns (nothing waits for more)', async () => {
    const [sender, receiver] = [await open(), await open()];
    const subject = `socket_writes.${randomBytes(4).toString('hex')}`;
    const got: string[] = [];
    receiver.nc.subscribe(subject, { callback: (_err, msg) => void got.push(msg.string()) });
    await receiver.nc.flush();
    for (let i = 0; i < 5; i++) {
      sender.nc.publish(subject, `t${i}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    // No flush: the last publish went out at the end of its turn.
    for (let tries = 0; got.length < 5 && tries < 250; tries++) await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual(['t0', 't1', 't2', 't3', 't4']);
  });

  it('a close right after a publish delivers it (closing uncorks)', async () => {
    const [sender, receiver] = [await open(), await open()];
    const subject = `socket_writes.${randomBytes(4).toString('hex')}`;
    const got: string[] = [];
    receiver.nc.subscribe(subject, { callback: (_err, msg) => void got.push(msg.string()) });
    await receiver.nc.flush();
    sender.nc.publish(subject, 'last words');
    buses.splice(buses.indexOf(sender), 1);
    await sender.close();
    for (let tries = 0; got.length < 1 && tries < 250; tries++) await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual(['last words']);
  });
});
