import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

const messages: Record<number, string> = {
  400: 'Bad request',
  408: 'Request timeout',
  431: 'Request header fields too large',
};

/**
 * Answers what Node's HTTP parser refuses before fastify sees a request (malformed request
 * line or headers, a body shorter than its Content-Length, timeouts) in Amplitude's shape,
 * so even these carry a JSON body whose `code` equals the status.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const body = JSON.stringify({ code: status, error: messages[status] });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
