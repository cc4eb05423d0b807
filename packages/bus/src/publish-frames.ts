import { InvalidArgumentError, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { Socket } from 'node:net';

/**
 * Publishing with less of nats.js's per-message work, through nats.js's own outbound buffer (so
 * its ordering with every other command, its flushes, and its reconnect handling stay as they
 * are).
 *
 * nats.js queues a publish as four buffers (the protocol line and the headers, each encoded from
 * a string, the payload, CRLF) and at each flush concatenates the queued buffers into a new,
 * zero-filled Uint8Array. Profiles showed that copy (`DataBuffer.drain`) as ~3 % of the filter,
 * and a micro-benchmark put it mostly in the fresh memory of that allocation (page faults, system
 * time), not in the copying: into a slab used again it costs a fifth. Here the connection's outbound buffer is replaced by one that copies what is
 * queued into a slab it reuses once the socket holds none of it any more, and a publish writes
 * its whole frame (`HPUB subject reply hlen len\r\nheaders payload\r\n`) straight into that slab:
 * one string write and one payload copy, no MsgHdrs encode, no intermediate buffers.
 *
 * Both depend on nats.js internals (the ProtocolHandler's `outbound` and how it is used, its
 * `sendCommand`, the connection's `_check`); `framesOf` checks them and throws when they changed.
 */

/** What ProtocolHandler does with its outbound buffer (nats-core 3.x): these methods and no others. */
const OUTBOUND_METHODS = ['drain', 'fill', 'length', 'reset', 'size'];

/** The smallest slab; it doubles (up to MAX_SLAB) when the socket still holds a full one. */
const MIN_SLAB = 64 * 1024;
const MAX_SLAB = 4 * 1024 * 1024;

interface ProtocolLike {
  outbound: unknown;
  transport?: { socket?: Socket };
  info?: { max_payload: number; headers?: boolean };
  outBytes: number;
  outMsgs: number;
  sendCommand(cmd: string | Uint8Array, ...payloads: Uint8Array[]): void;
  flushPending(): void;
}

interface ConnectionLike {
  protocol?: ProtocolLike;
  _check?(subject: string, sub: boolean, pub: boolean): void;
}

/**
 * The outbound buffer of a ProtocolHandler (DataBuffer's interface as the handler uses it): what
 * is queued is copied into a slab, and a flush hands the socket a view of it. A drained view may
 * still be in the socket's queue (corked, or not yet taken by the kernel), so the slab's start is
 * reused only once the socket holds nothing (`writableLength` 0); until then a new slab is taken
 * and the old one is left to the views that still hold it.
 */
export class SlabOutbound {
  slab: Buffer = Buffer.allocUnsafeSlow(MIN_SLAB);
  /** The first byte not yet drained. */
  private start = 0;
  /** The first free byte. */
  private end = 0;

  constructor(private readonly socketIdle: () => boolean) {}

  /** Room for `n` more bytes at the end of `this.slab`; returns where they go. */
  reserve(n: number): number {
    // Everything drained and taken by the kernel: start over at the (cache-warm) front.
    if (this.start === this.end && this.end > 0 && this.socketIdle()) this.start = this.end = 0;
    if (this.end + n <= this.slab.length) return this.end;
    const pending = this.end - this.start;
    if (pending + n <= this.slab.length && this.socketIdle()) {
      this.slab.copyWithin(0, this.start, this.end);
    } else {
      const next = Buffer.allocUnsafeSlow(Math.max(Math.min(this.slab.length * 2, MAX_SLAB), pending + n));
      this.slab.copy(next, 0, this.start, this.end);
      this.slab = next;
    }
    this.start = 0;
    this.end = pending;
    return this.end;
  }

  fill(a?: Uint8Array, ...bufs: Uint8Array[]): void {
    if (a) this.put(a);
    for (const b of bufs) if (b && b.length) this.put(b);
  }

  private put(b: Uint8Array): void {
    // Written in place (a frame built at reserve()'s offset): nothing to copy.
    if (b.buffer === this.slab.buffer && b.byteOffset === this.slab.byteOffset + this.end) {
      this.end += b.length;
      return;
    }
    const at = this.reserve(b.length);
    this.slab.set(b, at);
    this.end = at + b.length;
  }

  /** 0 when nothing is queued (sendCommand schedules a flush then), else 1. */
  length(): number {
    return this.end > this.start ? 1 : 0;
  }

  size(): number {
    return this.end - this.start;
  }

  drain(n?: number): Uint8Array {
    const size = this.end - this.start;
    if (n === undefined || n > size) n = size;
    const d = this.slab.subarray(this.start, this.start + n);
    this.start += n;
    return d;
  }

  /** Drops what is queued (nats.js does at every connection attempt). */
  reset(): void {
    this.start = this.end;
  }
}

/** Encoded publishes for one connection (shared by every LeanPublisher over it). */
export class PublishFrames {
  constructor(
    private readonly nc: ConnectionLike & { _check(subject: string, sub: boolean, pub: boolean): void },
    private readonly protocol: ProtocolLike,
    private readonly outbound: SlabOutbound,
  ) {}

  /**
   * `nc.publish(subject, data, { reply, headers })` with `headerText` (headersText()'s, or
   * undefined for none) as the headers: the same checks and errors (closed or draining
   * connection, invalid subject, over max_payload), the same statistics, the same queue.
   */
  publish(subject: string, reply: string, headerText: string | undefined, data: Uint8Array): void {
    this.nc._check(subject, false, true);
    const { protocol } = this;
    const info = protocol.info;
    const hlen = headerText === undefined ? 0 : Buffer.byteLength(headerText);
    const len = hlen + data.length;
    if (info) {
      if (headerText !== undefined && !info.headers) throw InvalidArgumentError.format('headers', 'are not available on this server');
      if (len > info.max_payload) throw InvalidArgumentError.format('payload', 'max_payload size exceeded');
    }
    protocol.outBytes += len;
    protocol.outMsgs++;
    const head = headerText === undefined ? `PUB ${subject} ${reply} ${len}\r\n` : `HPUB ${subject} ${reply} ${hlen} ${len}\r\n${headerText}`;
    // At most 3 bytes per UTF-16 unit; the frame is exactly what is written.
    const at = this.outbound.reserve(head.length * 3 + data.length + 2);
    const slab = this.outbound.slab;
    let end = at + slab.write(head, at);
    slab.set(data, end);
    end += data.length;
    slab[end++] = 13;
    slab[end++] = 10;
    protocol.sendCommand(slab.subarray(at, end));
  }
}

/**
 * The header block of a publish (`NATS/1.0\r\n…\r\n\r\n`): `headers`, then `Nats-Msg-Id` and
 * `Nats-Expected-Last-Subject-Sequence` when given (replacing a header of that exact name, as
 * `MsgHdrs.set` does). Undefined when there is nothing to carry.
 */
export function headersText(headers: MsgHdrs | undefined, msgID: string | undefined, expectedLastSubjectSequence: number | undefined): string | undefined {
  let text = 'NATS/1.0';
  let any = false;
  if (headers) {
    if (headers.code > 0 && headers.description !== '') {
      text += ` ${headers.code} ${headers.description}`;
      any = true;
    }
    for (const [k, values] of headers) {
      if ((k === MSG_ID && msgID !== undefined) || (k === EXPECTED_SEQ && expectedLastSubjectSequence !== undefined)) continue;
      for (const v of values) text += `\r\n${k}: ${v}`;
      any = true;
    }
  }
  if (msgID !== undefined) {
    text += `\r\n${MSG_ID}: ${headerValue(msgID)}`;
    any = true;
  }
  if (expectedLastSubjectSequence !== undefined) {
    text += `\r\n${EXPECTED_SEQ}: ${expectedLastSubjectSequence}`;
    any = true;
  }
  return any ? `${text}\r\n\r\n` : undefined;
}

const MSG_ID = 'Nats-Msg-Id';
const EXPECTED_SEQ = 'Nats-Expected-Last-Subject-Sequence';

/** As MsgHdrs.set takes a value: no CR or LF (they would end the header), trimmed. */
function headerValue(v: string): string {
  if (/[\r\n]/.test(v)) throw InvalidArgumentError.format('header', 'values cannot contain \\r or \\n');
  return v.trim();
}

const installed = new WeakMap<object, PublishFrames>();

/**
 * The PublishFrames of a connection, installing its slab outbound buffer at the first call (what
 * nats.js had queued is carried over). Throws when nats.js's internals are not the ones this
 * relies on (a client upgrade): better at start than a corrupted protocol stream.
 */
export function framesOf(nc: NatsConnection): PublishFrames {
  const conn = nc as unknown as ConnectionLike;
  const protocol = conn.protocol;
  if (!protocol) throw new Error('@nats-io/transport-node: the connection has no protocol handler (client upgraded?)');
  const known = installed.get(protocol);
  if (known) return known;
  checkInternals(conn, protocol);
  const outbound = new SlabOutbound(() => {
    const socket = protocol.transport?.socket;
    return socket === undefined || socket.writableLength === 0;
  });
  const old = protocol.outbound as { size(): number; drain(): Uint8Array };
  if (old.size() > 0) outbound.fill(old.drain());
  protocol.outbound = outbound;
  const frames = new PublishFrames(conn as ConnectionLike & { _check(subject: string, sub: boolean, pub: boolean): void }, protocol, outbound);
  installed.set(protocol, frames);
  return frames;
}

function checkInternals(conn: ConnectionLike, protocol: ProtocolLike): void {
  const fail = (what: string) => {
    throw new Error(`@nats-io/transport-node: ${what} (client upgraded? packages/bus/src/publish-frames.ts relies on it)`);
  };
  if (typeof conn._check !== 'function') fail('NatsConnectionImpl._check is missing');
  if (typeof protocol.sendCommand !== 'function' || typeof protocol.flushPending !== 'function') fail('ProtocolHandler.sendCommand or flushPending is missing');
  if (typeof protocol.outBytes !== 'number' || typeof protocol.outMsgs !== 'number') fail('ProtocolHandler.outBytes or outMsgs is missing');
  const outbound = protocol.outbound as Record<string, unknown> | undefined;
  if (!outbound || OUTBOUND_METHODS.some((m) => typeof outbound[m] !== 'function')) fail('ProtocolHandler.outbound is not a DataBuffer');
  if (!protocol.transport || !('socket' in protocol.transport)) fail('the transport has no socket');
  // Every use the handler makes of its outbound buffer must be one SlabOutbound implements.
  const source = Object.getOwnPropertyNames(Object.getPrototypeOf(protocol))
    .map((name) => {
      const d = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(protocol), name);
      return typeof d?.value === 'function' ? String(d.value) : '';
    })
    .join('\n');
  const used = new Set([...source.matchAll(/\.outbound\.(\w+)/g)].map((m) => m[1]!));
  const unknown = [...used].filter((m) => !OUTBOUND_METHODS.includes(m));
  if (used.size === 0 || unknown.length > 0) fail(`ProtocolHandler uses its outbound buffer differently (${[...used].join(', ')})`);
  if (!/this\.outbound\.length\(\)[\s\S]*?queueMicrotask/.test(String(protocol.sendCommand))) fail('ProtocolHandler.sendCommand no longer schedules its flush as expected');
}
