import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MovableInkStandIn, Stack, startTcpProxy, type TcpProxy, waitFor } from '@inkstream/testing';
import { sendUntilAccepted } from './support/send-until-accepted.js';

const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Reliability target: Postgres down — the config API answers 503 and recovers; delivery of the
 * existing syncs goes on, because no other service reads Postgres.
 */
describe('Postgres outage', () => {
  const database = `inkstream_pgdown_${randomBytes(4).toString('hex')}`;
  const standIn = new MovableInkStandIn();
  let proxy: TcpProxy;
  let stack: Stack;
  let apiKey: string;
  let syncId: string;

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    const target = new URL(ADMIN_DATABASE_URL);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const url = new URL(ADMIN_DATABASE_URL);
    url.host = `127.0.0.1:${proxy.port}`;
    url.pathname = `/${database}`;
    stack = new Stack({ env: { DATABASE_URL: url.toString(), LOG_LEVEL: 'warn' } });
    const endpoint = await standIn.start();
    await stack.start();
    ({ apiKey, syncId } = await stack.createEnabledSync('Outage', {
      name: 'mi',
      endpointUrl: `${endpoint}/behavioral/pgdown`,
      authorization: 'Basic cGdkb3duOnRlc3Q=',
      eventFilters: [{ eventType: '*' }],
    }));
  });

  afterAll(async () => {
    proxy?.restore();
    await stack?.stop();
    await proxy?.close();
    await standIn.stop();
    const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  });

  it('answers 503 while Postgres is down, keeps delivering, and recovers', async () => {
    proxy.cut();
    const during = await waitFor(async () => {
      const res = await stack.admin('GET', `/v1/syncs/${syncId}`);
      return res.status === 503 ? res : undefined;
    }, 'the config API to answer 503', 60_000, 500);
    expect(during.status).toBe(503);
    expect((await fetch(stack.url('config', '/readyz'))).status).toBe(503);

    const events = Array.from({ length: 20 }, (_, i) => ({ user_id: `pg-user-${i % 4}`, event_type: 'Step', insert_id: `pgdown-${i}` }));
    await sendUntilAccepted(stack.url('ingest', '/2/httpapi'), apiKey, events);
    await waitFor(() => standIn.payloads().length >= 20, 'delivery to go on without Postgres', 120_000);

    proxy.restore();
    await waitFor(async () => (await stack.admin('GET', `/v1/syncs/${syncId}`)).status === 200, 'the config API to recover', 120_000, 500);
    expect((await fetch(stack.url('config', '/readyz'))).status).toBe(200);
  });
});
