import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { REDACTED_PATHS } from './logger.js';
import { createMetricsRegistry } from './metrics.js';
import { createServer } from './server.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, logger: pino({ level: 'info', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, stream) };
}

describe('createServer', () => {
  it('serves health, readiness and metrics', async () => {
    let ready = false;
    const { logger } = capture();
    const app = createServer({ service: 't', logger, metrics: createMetricsRegistry('t'), readiness: { nats: () => ready } });
    expect((await app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    const notReady = await app.inject('/readyz');
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json()).toEqual({ status: 'not ready', checks: { nats: false } });
    ready = true;
    expect((await app.inject('/readyz')).statusCode).toBe(200);
    const metrics = await app.inject('/metrics');
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.body).toContain('inkstream_process_cpu_user_seconds_total');
    await app.close();
  });

  it('keeps or generates request ids and logs one redacted line per request', async () => {
    const { lines, logger } = capture();
    const app = createServer({ service: 't', logger, metrics: createMetricsRegistry('t') });
    app.post('/echo', async (request) => {
      request.log.info({ body: request.body, authorization: 'Basic c2VjcmV0' }, 'handling');
      return { ok: true };
    });
    const res = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'x-request-id': 'req-42', authorization: 'Bearer top-secret', 'content-type': 'application/json' },
      payload: { authorization: 'Basic c2VjcmV0', apiKey: 'k-secret' },
    });
    expect(res.headers['x-request-id']).toBe('req-42');
    const generated = await app.inject({ method: 'POST', url: '/echo', payload: {} });
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const text = lines.join('');
    expect(text).not.toContain('c2VjcmV0');
    expect(text).not.toContain('k-secret');
    expect(text).not.toContain('top-secret');
    const summaries = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    expect(summaries).toHaveLength(2);
    expect(summaries[0]).toMatchObject({ reqId: 'req-42', method: 'POST', url: '/echo', status: 200 });
    await app.close();
  });
});
