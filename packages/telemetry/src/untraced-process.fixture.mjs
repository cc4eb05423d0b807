// Run by context-mode.test.ts as a service runs, without an exporter:
//   node --import ../dist/register.js untraced-process.fixture.mjs
// Serves /healthz, /metrics and a route that reads its request's trace context, consumes a
// message in a span, and prints whether async_hooks' promise hooks got turned on.
import { AsyncLocalStorage, executionAsyncId } from 'node:async_hooks';
import { createServer, request as httpRequest } from 'node:http';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { requestTraceContext, traceIdOf, traceProcess } from '../dist/index.js';

const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** Promise hooks are on when a promise continuation has an async id. */
async function hooksOn() {
  await null;
  return executionAsyncId() !== 0;
}

const hooksOnBefore = await hooksOn();
const server = createServer((req, res) => {
  const ctx = req.url === '/2/httpapi' ? requestTraceContext(req) : undefined;
  req.resume();
  req.on('end', () => res.end(ctx ? traceIdOf(ctx) : 'ok'));
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const get = (path, headers = {}) =>
  new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: path === '/2/httpapi' ? 'POST' : 'GET', headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end(path === '/2/httpapi' ? '{}' : undefined);
  });
await get('/healthz');
await get('/metrics');
const requestTraceId = await get('/2/httpapi', { traceparent, 'content-type': 'application/json' });
const headers = natsHeaders();
headers.set('traceparent', traceparent);
const messageTraceId = await traceProcess({ subject: 's.1', template: 's.{p}', consumer: 'c', headers }, async (_span, ctx) => {
  await null;
  return traceIdOf(ctx);
});
const hooksOnAfter = await hooksOn();
server.close();
new AsyncLocalStorage().run(1, () => undefined);
const hooksOnAfterEnteringAStore = await hooksOn();
process.stdout.write(JSON.stringify({ hooksOnBefore, hooksOnAfter, requestTraceId, messageTraceId, hooksOnAfterEnteringAStore }));
