import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpSender, RESPONSE_DRAIN_LIMIT_BYTES, RESPONSE_EXCERPT_BYTES } from './http-sender.js';
import { buildRequest } from './request.js';

/** The sender against a local server that answers by path: a few ways an endpoint behaves. */
describe('HttpSender', () => {
  let server: Server;
  let base: string;
  const sockets = new Set<unknown>();
  const request = buildRequest([{ type: 'identify', user_id: 'u', timestamp: 1, message_id: 'm' }], 'Basic x');

  beforeAll(async () => {
    server = createServer((req, res: ServerResponse) => {
      req.resume();
      req.on('end', () => {
        switch (req.url) {
          case '/ok?x=1':
            res.writeHead(200, { 'x-request-id': 'r1' }).end('{"ok":true}');
            break;
          case '/big':
            res.writeHead(400).end('e'.repeat(RESPONSE_EXCERPT_BYTES * 3));
            break;
          case '/huge':
            res.writeHead(503).end('h'.repeat(RESPONSE_DRAIN_LIMIT_BYTES * 4));
            break;
          case '/hang':
            break;
          case '/trickle':
            // Headers at once, then a byte every 100 ms: each chunk within the body timeout.
            res.writeHead(200);
            const t = setInterval(() => res.write('.'), 100);
            res.on('close', () => clearInterval(t));
            break;
          case '/late-body':
            // Headers (names in any case) first, the body in two pieces, the last a little later.
            res.writeHead(200, { 'Retry-After': '3', 'X-Request-ID': 'r2' });
            res.write('{"a":');
            setTimeout(() => res.end('1}'), 150);
            break;
          case '/hints':
            res.writeEarlyHints({ link: '</style.css>; rel=preload' });
            res.writeHead(202).end('accepted');
            break;
          case '/throttled':
            res.writeHead(429, { 'retry-after': '7' }).end();
            break;
          default:
            res.writeHead(404).end();
        }
      });
    });
    server.on('connection', (s) => sockets.add(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('parses an endpoint once and sends to its path and query, reusing the connection', async () => {
    const sender = new HttpSender({ allowPrivateEndpoints: true, connectionsPerOrigin: 1 });
    try {
      const endpoint = sender.endpoint(`${base}/ok?x=1`);
      expect(endpoint).toMatchObject({ origin: base, path: '/ok?x=1' });
      const before = sockets.size;
      for (let i = 0; i < 3; i++) {
        const result = await sender.sendTo(endpoint, request, 2_000);
        expect(result).toMatchObject({ status: 200, responseExcerpt: '{"ok":true}', requestId: 'r1' });
      }
      expect(sockets.size - before).toBe(1);
      expect(await sender.send(`${base}/throttled`, request, 2_000)).toMatchObject({ status: 429, retryAfter: '7', responseExcerpt: '' });
    } finally {
      await sender.close();
    }
  });

  it('reads a body that comes after its headers, and skips 1xx answers', async () => {
    const sender = new HttpSender({ allowPrivateEndpoints: true, connectionsPerOrigin: 1 });
    try {
      expect(await sender.send(`${base}/late-body`, request, 2_000)).toMatchObject({
        status: 200,
        responseExcerpt: '{"a":1}',
        retryAfter: '3',
        requestId: 'r2',
      });
      const hinted = await sender.send(`${base}/hints`, request, 2_000);
      expect(hinted).toMatchObject({ status: 202, responseExcerpt: 'accepted' });
      expect(hinted.error).toBeUndefined();
      // The connection is still good for the next request.
      expect((await sender.send(`${base}/ok?x=1`, request, 2_000)).status).toBe(200);
    } finally {
      await sender.close();
    }
  });

  it('keeps a 2 KB excerpt of a body, and cuts off a body past the drain limit', async () => {
    const sender = new HttpSender({ allowPrivateEndpoints: true, connectionsPerOrigin: 2 });
    try {
      const big = await sender.send(`${base}/big`, request, 2_000);
      expect(big.status).toBe(400);
      expect(big.responseExcerpt).toBe('e'.repeat(RESPONSE_EXCERPT_BYTES));
      const huge = await sender.send(`${base}/huge`, request, 2_000);
      expect(huge.status).toBe(503);
      expect(huge.error).toBeUndefined();
      expect(huge.responseExcerpt).toBe('h'.repeat(RESPONSE_EXCERPT_BYTES));
      // The sender still works after a connection was cut off.
      expect((await sender.send(`${base}/ok?x=1`, request, 2_000)).status).toBe(200);
    } finally {
      await sender.close();
    }
  });

  it('gives up on an answer that does not come, and on a body that never ends, within the timeout', async () => {
    const sender = new HttpSender({ allowPrivateEndpoints: true, connectionsPerOrigin: 2 });
    try {
      const hang = await sender.send(`${base}/hang`, request, 300);
      expect(hang.status).toBeUndefined();
      expect(hang.error).toBeDefined();
      expect(hang.responseExcerpt).toMatch(/UND_ERR_HEADERS_TIMEOUT/);
      const trickle = await sender.send(`${base}/trickle`, request, 500);
      expect(trickle.status).toBeUndefined();
      expect(trickle.responseExcerpt).toMatch(/UND_ERR_REQUEST_TIMEOUT/);
    } finally {
      await sender.close();
    }
  });

  it('refuses private addresses and bad URLs without sending, every time', async () => {
    const sender = new HttpSender({ allowPrivateEndpoints: false, connectionsPerOrigin: 1 });
    try {
      const before = sockets.size;
      const local = sender.endpoint(`${base}/ok?x=1`);
      expect(local.problem).toBeDefined();
      for (let i = 0; i < 2; i++) {
        const result = await sender.sendTo(local, request, 1_000);
        expect(result.status).toBeUndefined();
        expect(result.error).toBe(local.problem);
      }
      expect((await sender.send('not a url', request, 1_000)).error).toBeDefined();
      expect(sockets.size).toBe(before);
    } finally {
      await sender.close();
    }
  });
});
