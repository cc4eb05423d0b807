import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

/**
 * One socket write per event-loop turn for every NATS connection of this process.
 *
 * nats.js writes its outbound buffer at the next microtask after a command is queued. A busy
 * service runs many short promise chains per turn (a publish, an ack, a KV put each end one), so
 * the buffer is written many times per turn: a system call and a write request each, which
 * profiles showed as the filter's largest item after GC. Here the first write of a turn corks the
 * socket and a setImmediate uncorks it: Node then hands every chunk of the turn to the kernel in
 * one writev. Nothing is held past the turn, and `end()` (close) uncorks at once.
 */
interface NodeTransportLike {
  socket?: Socket;
  isClosed?: boolean;
  send(frame: Uint8Array): void;
}

const corked = new WeakSet<Socket>();
let installed = false;

export function coalesceSocketWrites(): void {
  if (installed) return;
  installed = true;
  const require = createRequire(import.meta.url);
  const { NodeTransport } = require('@nats-io/transport-node/lib/node_transport.js') as {
    NodeTransport: { prototype: NodeTransportLike };
  };
  const proto = NodeTransport.prototype;
  const send = proto.send;
  if (typeof send !== 'function') throw new Error('@nats-io/transport-node: NodeTransport.send is missing (client upgraded?)');
  proto.send = function (this: NodeTransportLike, frame: Uint8Array): void {
    const socket = this.socket;
    if (socket !== undefined && !this.isClosed && !corked.has(socket) && !socket.destroyed) {
      corked.add(socket);
      socket.cork();
      setImmediate(uncork, socket);
    }
    send.call(this, frame);
  };
}

function uncork(socket: Socket): void {
  corked.delete(socket);
  // end() or destroy() may have uncorked it already; uncork on an uncorked socket does nothing.
  if (socket.writableCorked > 0) socket.uncork();
}
