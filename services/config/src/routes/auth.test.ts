import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteDriver, type OpenedTestDatabase } from '../testing/drivers.js';
import { startApp, syncBody, type AppHarness } from '../testing/harness.js';
import { captureLogs } from '../testing/logs.js';

const id = '00000000-0000-4000-8000-000000000000';

/** Every /v1 route, with a body that would otherwise be valid or invalid: auth comes first. */
const adminRoutes = [
  ['POST', '/v1/projects', { name: 'x' }],
  ['GET', '/v1/projects', undefined],
  ['GET', `/v1/projects/${id}`, undefined],
  ['POST', `/v1/projects/${id}/rotate-key`, undefined],
  ['DELETE', `/v1/projects/${id}`, undefined],
  ['POST', `/v1/projects/${id}/syncs`, syncBody()],
  ['POST', `/v1/projects/${id}/syncs`, { invalid: true }],
  ['GET', `/v1/projects/${id}/syncs`, undefined],
  ['GET', `/v1/syncs/${id}`, undefined],
  ['PATCH', `/v1/syncs/${id}`, { name: 'x' }],
  ['DELETE', `/v1/syncs/${id}`, undefined],
  ['GET', `/v1/syncs/${id}/history`, undefined],
  ['POST', `/v1/syncs/${id}/preview`, { event: { event_type: 'a', user_id: 'user-1' } }],
  ['POST', `/v1/syncs/${id}/preview`, { invalid: true }],
  ['POST', `/v1/syncs/${id}/test`, undefined],
  ['GET', `/v1/syncs/${id}/metrics`, undefined],
  ['GET', `/v1/syncs/${id}/metrics?period=NEVER`, undefined],
  ['GET', `/v1/syncs/${id}/errors?limit=5`, undefined],
  ['GET', `/v1/syncs/${id}/dead-letters?limit=5&cursor=3`, undefined],
  ['POST', `/v1/syncs/${id}/dead-letters/redrive`, { ids: ['1'] }],
  ['POST', `/v1/syncs/${id}/dead-letters/redrive`, undefined],
  ['GET', '/v1/not-a-route', undefined],
] as const;

describe('admin authentication', () => {
  let database: OpenedTestDatabase;
  let h: AppHarness;

  beforeAll(async () => {
    database = await pgliteDriver.open(captureLogs().logger);
    h = await startApp(database.handle);
  });
  afterAll(async () => {
    await h?.close();
    await database?.dispose();
  });

  const unauthorized = {
    statusCode: 401,
    error: 'Unauthorized',
    message: 'missing or invalid admin token; send Authorization: Bearer <ADMIN_TOKEN>',
  };

  describe.each([
    ['no Authorization header', undefined],
    ['a wrong token', 'Bearer wrong-token-wrong-token'],
    ['the token with another scheme', 'Basic {token}'],
    ['the token without a scheme', '{token}'],
    ['an empty bearer', 'Bearer '],
  ])('with %s', (_name, header) => {
    it.each(adminRoutes)('%s %s → 401', async (method, url, body) => {
      const authorization = header?.replace('{token}', h.adminToken);
      const res = await h.app.inject({
        method,
        url,
        headers: authorization === undefined ? {} : { authorization },
        ...(body === undefined ? {} : { payload: body }),
      });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual(unauthorized);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="inkstream config"');
    });
  });

  it('lets the admin token through', async () => {
    expect((await h.api('GET', '/v1/projects')).statusCode).toBe(200);
  });

  it('answers the admin 404 for an unknown path', async () => {
    const res = await h.api('GET', '/v1/not-a-route?x=1');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ statusCode: 404, error: 'Not Found', message: 'Route GET /v1/not-a-route not found' });
  });

  it.each(['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs/', '/docs/json'])('%s is open', async (url) => {
    const res = await h.app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(200);
  });
});
