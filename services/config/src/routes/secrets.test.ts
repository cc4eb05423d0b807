import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDrivers, type OpenedTestDatabase } from '../testing/drivers.js';
import { startApp, syncBody, type AppHarness } from '../testing/harness.js';
import { captureLogs } from '../testing/logs.js';

const accessKeyId = 'mi-access-key-7f3a';
const accessSecret = 'S3cr3t-never-in-clear-9b1c';
const basicHeader = `Basic ${Buffer.from(`${accessKeyId}:${accessSecret}`).toString('base64')}`;
const rawHeader = 'Bearer raw-header-secret-4d2e8a';
const patchedSecret = 'patched-S3cr3t-5e6f';
const patchedHeader = `Basic ${Buffer.from(`${accessKeyId}:${patchedSecret}`).toString('base64')}`;

/** What must never appear in clear: the secrets, the headers built from them, their base64 body. */
const secrets = [accessSecret, basicHeader, basicHeader.slice(6), rawHeader, patchedSecret, patchedHeader, patchedHeader.slice(6)];

describe.each(testDrivers)('authorization secrecy on $name', (driver) => {
  let database: OpenedTestDatabase;
  let h: AppHarness;
  const bodies: string[] = [];

  beforeAll(async () => {
    database = await driver.open(captureLogs().logger);
    h = await startApp(database.handle);
    const project = (await h.api('POST', '/v1/projects', { name: 'Secretive' })).json<{ id: string }>();
    const call = async (...args: Parameters<AppHarness['api']>) => {
      const res = await h.api(...args);
      bodies.push(res.body);
      return res;
    };
    const created = await call('POST', `/v1/projects/${project.id}/syncs`, syncBody({ authorization: { accessKeyId, accessSecret } }));
    expect(created.statusCode).toBe(201);
    const other = await call('POST', `/v1/projects/${project.id}/syncs`, syncBody({ authorization: rawHeader, enabled: true }));
    expect(other.statusCode).toBe(201);
    const syncId = created.json<{ id: string }>().id;
    expect((await call('PATCH', `/v1/syncs/${syncId}`, { authorization: { accessKeyId, accessSecret: patchedSecret } })).statusCode).toBe(200);
    // Refused requests that carry a secret must not echo or log it either.
    expect((await call('PATCH', `/v1/syncs/${syncId}`, { authorization: `${rawHeader}\n` })).statusCode).toBe(400);
    expect((await call('POST', `/v1/projects/${project.id}/syncs`, syncBody({ authorization: { accessKeyId, accessSecret }, endpointUrl: 'https://127.0.0.1/' }))).statusCode).toBe(400);
    expect((await call('POST', `/v1/projects/${project.id}/syncs`, syncBody({ authorization: { accessKeyId, accessSecret }, bogus: 1 }))).statusCode).toBe(400);
    await call('GET', `/v1/syncs/${syncId}`);
    await call('GET', `/v1/syncs/${syncId}/history`);
    await call('GET', `/v1/projects/${project.id}/syncs`);
    // The admin token itself, sent on every request, must not be logged.
    await h.app.inject({ method: 'GET', url: '/v1/projects', headers: { authorization: `Bearer ${h.adminToken}x` } });
  });
  afterAll(async () => {
    await h?.close();
    await database?.dispose();
  });

  it('never returns a secret in a response', () => {
    expect(bodies.length).toBeGreaterThan(5);
    for (const body of bodies) for (const secret of secrets) expect(body).not.toContain(secret);
  });

  it('never writes a secret or the admin token to the log', () => {
    const text = h.logs.text();
    expect(h.logs.lines().filter((line) => line.msg === 'request').length).toBeGreaterThan(5);
    for (const secret of [...secrets, h.adminToken]) expect(text).not.toContain(secret);
  });

  it('stores the authorization only sealed, in every table', async () => {
    for (const table of ['syncs', 'sync_history', 'outbox']) {
      const result = await database.handle.db.execute(sql.raw(`select * from ${table}`));
      const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as unknown[];
      expect(rows.length, table).toBeGreaterThan(0);
      const dump = JSON.stringify(rows);
      for (const secret of secrets) expect(dump, table).not.toContain(secret);
    }
  });
});
