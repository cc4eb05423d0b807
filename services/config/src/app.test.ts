import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres } from './db/postgres.js';
import type { DatabaseHandle } from './db/database.js';
import { startApp, type AppHarness } from './testing/harness.js';
import { captureLogs } from './testing/logs.js';
import { createTestDatabase, type TestDatabase } from './testing/postgres.js';
import { startTcpProxy, type TcpProxy } from '@inkstream/testing';

describe('when Postgres goes away', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let handle: DatabaseHandle;
  let h: AppHarness;

  beforeAll(async () => {
    database = await createTestDatabase();
    const url = new URL(database.url);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    handle = await openPostgres({ url: url.toString(), logger: captureLogs().logger });
    h = await startApp(handle);
  });
  afterAll(async () => {
    await h?.close();
    await handle?.close();
    await proxy?.close();
    await database?.drop();
  });

  it('answers 503 JSON while it is down, is not ready, and recovers when it is back', async () => {
    expect((await h.api('POST', '/v1/projects', { name: 'before' })).statusCode).toBe(201);
    expect((await h.app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({
      status: 'ready',
      checks: { database: true },
    });

    proxy.cut();
    for (const [method, url, body] of [
      ['GET', '/v1/projects', undefined],
      ['POST', '/v1/projects', { name: 'during' }],
    ] as const) {
      const res = await h.api(method, url, body);
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.json()).toEqual({
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'the database is unavailable; try again shortly',
      });
    }
    const notReady = await h.app.inject({ method: 'GET', url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json()).toEqual({ status: 'not ready', checks: { database: false } });
    expect(h.logs.lines()).toContainEqual(expect.objectContaining({ msg: 'the database is unavailable; try again shortly', level: 40 }));

    proxy.restore();
    await expect.poll(async () => (await h.api('GET', '/v1/projects')).statusCode, { timeout: 30_000 }).toBe(200);
    const names = (await h.api('GET', '/v1/projects')).json<Array<{ name: string }>>().map((p) => p.name);
    expect(names).toEqual(['before']);
  });
});
