import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DELIVERY_SETTINGS, configKey } from '@inkstream/contracts';
import { outbox, syncHistory, syncs } from '../db/schema.js';
import { testDrivers, type OpenedTestDatabase } from '../testing/drivers.js';
import { ENDPOINT_URL, startApp, syncBody, type AppHarness } from '../testing/harness.js';
import { captureLogs } from '../testing/logs.js';
import { outboxSnapshots } from '../testing/outbox.js';

const unknownId = '00000000-0000-4000-8000-000000000000';

interface SyncResponse {
  id: string;
  projectId: string;
  version: number;
  enabled: boolean;
  authorization: string;
  delivery: Record<string, unknown>;
  [field: string]: unknown;
}

const specExample = {
  name: 'Movable Ink – prod',
  endpointUrl: ENDPOINT_URL,
  authorization: { accessKeyId: 'test', accessSecret: 'test' },
  eventFilters: [
    {
      eventType: 'Product Viewed',
      where: [{ propertyType: 'event', property: 'price', operator: 'greater', values: [10] }],
    },
    { eventType: 'Order Completed' },
  ],
  eventProperties: ['product_id', 'price', 'categories'],
  sendUsers: true,
  userProperties: ['email', 'plan'],
};

describe.each(testDrivers)('sync routes on $name', (driver) => {
  let database: OpenedTestDatabase;
  let h: AppHarness;
  let projectId: string;

  beforeAll(async () => {
    database = await driver.open(captureLogs().logger);
    h = await startApp(database.handle);
    projectId = (await h.api('POST', '/v1/projects', { name: 'Shop' })).json<{ id: string }>().id;
  });
  afterAll(async () => {
    await h?.close();
    await database?.dispose();
  });

  const createSync = async (overrides: Record<string, unknown> = {}, project = projectId) => {
    const res = await h.api('POST', `/v1/projects/${project}/syncs`, syncBody(overrides));
    expect(res.statusCode, res.body).toBe(201);
    return res.json<SyncResponse>();
  };
  const patch = (id: string, body: unknown, headers: Record<string, string> = {}) =>
    h.api('PATCH', `/v1/syncs/${id}`, body, headers);

  describe('create', () => {
    it('fills in the documented defaults', async () => {
      const sync = await createSync();
      expect(sync).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        projectId,
        name: 'Movable Ink – prod',
        destination: 'movable-ink',
        enabled: false,
        endpointUrl: ENDPOINT_URL,
        authorization: 'Basic ****',
        sendEvents: true,
        eventFilters: [],
        eventProperties: [],
        sendUsers: false,
        userProperties: [],
        delivery: DEFAULT_DELIVERY_SETTINGS,
        status: { state: 'disabled', lastError: null },
        version: 1,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
    });

    it('takes the example of the spec, encoding access key and secret as Basic', async () => {
      const res = await h.api('POST', `/v1/projects/${projectId}/syncs`, { ...specExample, enabled: true, delivery: { batchSize: 100 } });
      expect(res.statusCode).toBe(201);
      expect(res.headers.etag).toBe('"1"');
      const sync = res.json<SyncResponse>();
      expect(sync).toMatchObject({
        ...specExample,
        authorization: 'Basic ****',
        enabled: true,
        delivery: { ...DEFAULT_DELIVERY_SETTINGS, batchSize: 100 },
        status: { state: 'healthy', lastError: null },
      });
      const [row] = await database.handle.db.select().from(syncs).where(eq(syncs.id, sync.id));
      expect(h.secretBox.open(row!.authorizationSealed)).toBe('Basic dGVzdDp0ZXN0');
    });

    it('shows long credentials masked to their last characters', async () => {
      const sync = await createSync({ authorization: { accessKeyId: 'key-id-1234', accessSecret: 'a-long-secret' } });
      const header = `Basic ${Buffer.from('key-id-1234:a-long-secret').toString('base64')}`;
      expect(sync.authorization).toBe(`Basic ****${header.slice(-6)}`);
    });

    it('writes the history event and the snapshot with the change', async () => {
      const sync = await createSync();
      const history = await database.handle.db.select().from(syncHistory).where(eq(syncHistory.syncId, sync.id));
      expect(history).toHaveLength(1);
      expect(history[0]).toMatchObject({ version: 1, type: 'created', actor: 'admin' });
      const snapshots = await outboxSnapshots(database.handle.db, configKey.sync(sync.id));
      expect(snapshots).toEqual([
        expect.objectContaining({ kind: 'sync', id: sync.id, projectId, version: 1, enabled: false, deleted: false }),
      ]);
      expect(h.secretBox.open((snapshots[0] as { authorizationSealed: string }).authorizationSealed)).toBe('Basic dGVzdDp0ZXN0');
    });

    it('404s for an unknown project', async () => {
      const res = await h.api('POST', `/v1/projects/${unknownId}/syncs`, syncBody());
      expect(res.statusCode).toBe(404);
      expect(res.json().message).toBe(`project ${unknownId} not found`);
    });

    const condition = { propertyType: 'event', property: 'price', operator: 'greater', values: [10] };
    it.each<[string, Record<string, unknown>, string]>([
      ['no name', { name: undefined }, "body must have required property 'name'"],
      ['no endpoint', { endpointUrl: undefined }, "body must have required property 'endpointUrl'"],
      ['no authorization', { authorization: undefined }, "body must have required property 'authorization'"],
      ['not a URL', { endpointUrl: 'not a url' }, 'body/endpointUrl must match format "uri"'],
      ['http', { endpointUrl: 'http://collector.movableink-dmz.com/x' }, 'body/endpointUrl must be an https URL; set ALLOW_PRIVATE_ENDPOINTS=true to allow it'],
      ['another scheme', { endpointUrl: 'ftp://collector.movableink-dmz.com/x' }, 'body/endpointUrl must be an https URL'],
      ['credentials in the URL', { endpointUrl: 'https://u:p@collector.movableink-dmz.com/x' }, 'body/endpointUrl must not contain credentials'],
      ['a loopback literal', { endpointUrl: 'https://127.0.0.1/x' }, 'body/endpointUrl must not point to a private address (127.0.0.1); set ALLOW_PRIVATE_ENDPOINTS=true to allow it'],
      ['the metadata address', { endpointUrl: 'https://169.254.169.254/latest' }, 'body/endpointUrl must not point to a private address (169.254.169.254); set ALLOW_PRIVATE_ENDPOINTS=true to allow it'],
      ['an IPv6 unique-local literal', { endpointUrl: 'https://[fd00::1]/x' }, 'body/endpointUrl must not point to a private address (fd00::1); set ALLOW_PRIVATE_ENDPOINTS=true to allow it'],
      ['a name resolving to a private address', { endpointUrl: 'https://internal.example.com/x' }, 'body/endpointUrl must not point to a private address (internal.example.com → 10.0.0.5); set ALLOW_PRIVATE_ENDPOINTS=true to allow it'],
      ['a name resolving to the metadata address', { endpointUrl: 'https://metadata.example.com/x' }, 'body/endpointUrl must not point to a private address (metadata.example.com → 169.254.169.254); set ALLOW_PRIVATE_ENDPOINTS=true to allow it'],
      ['a name that does not resolve', { endpointUrl: 'https://nowhere.invalid/x' }, 'body/endpointUrl host nowhere.invalid does not resolve'],
      ['an unknown operator', { eventFilters: [{ eventType: 'a', where: [{ ...condition, operator: 'between' }] }] }, 'body/eventFilters/0/where/0/operator must be one of "is", "is not", "contains", "does not contain", "less", "less or equal", "greater", "greater or equal", "set is", "set is not", "glob match", "exists", "does not exist"'],
      ['an unknown property type', { eventFilters: [{ eventType: 'a', where: [{ ...condition, propertyType: 'group' }] }] }, 'body/eventFilters/0/where/0/propertyType must be one of "event", "user", "field"'],
      ['an empty filter row', { eventFilters: [{}] }, "body/eventFilters/0 must have required property 'eventType'"],
      ['an empty event type', { eventFilters: [{ eventType: '' }] }, 'body/eventFilters/0/eventType must NOT have fewer than 1 characters'],
      ['a blank event type', { eventFilters: [{ eventType: '  ' }] }, 'body/eventFilters/0/eventType must not be blank'],
      ['a condition without property', { eventFilters: [{ eventType: 'a', where: [{ propertyType: 'event', operator: 'is', values: ['x'] }] }] }, "body/eventFilters/0/where/0 must have required property 'property'"],
      ['a condition without operator', { eventFilters: [{ eventType: 'a', where: [{ propertyType: 'event', property: 'p', values: ['x'] }] }] }, "body/eventFilters/0/where/0 must have required property 'operator'"],
      ['a condition without values', { eventFilters: [{ eventType: 'a', where: [{ propertyType: 'event', property: 'p', operator: 'is' }] }] }, 'body/eventFilters/0/where/0/values must not be empty for operator "is"'],
      ['a non-numeric comparison', { eventFilters: [{ eventType: 'a', where: [{ ...condition, values: ['ten'] }] }] }, 'body/eventFilters/0/where/0/values/0 must be a number for operator "greater"'],
      ['an unknown filter field', { eventFilters: [{ eventType: 'a', match: 'all' }] }, "body/eventFilters/0 must NOT have additional property 'match'"],
      ['a filter value that is an object', { eventFilters: [{ eventType: 'a', where: [{ ...condition, values: [{}] }] }] }, 'body/eventFilters/0/where/0/values/0 must be string or number or boolean'],
      ['a property that is not a string', { eventProperties: ['price', 1] }, 'body/eventProperties/1 must be string'],
      ['a user property that is not a string', { userProperties: [{ name: 'email' }] }, 'body/userProperties/0 must be string'],
      ['an empty property name', { eventProperties: [''] }, 'body/eventProperties/0 must NOT have fewer than 1 characters'],
      ['a boolean as a string', { sendEvents: 'yes' }, 'body/sendEvents must be boolean'],
      ['requests too large', { delivery: { maxRequestBytes: 2_000_001 } }, 'body/delivery/maxRequestBytes must be <= 2000000'],
      ['a retry window too short', { delivery: { retryWindowSeconds: 59 } }, 'body/delivery/retryWindowSeconds must be >= 60'],
      ['a retry window too long', { delivery: { retryWindowSeconds: 259_201 } }, 'body/delivery/retryWindowSeconds must be <= 259200'],
      ['a fractional batch size', { delivery: { batchSize: 1.5 } }, 'body/delivery/batchSize must be integer'],
      ['an unknown delivery setting', { delivery: { turbo: true } }, "body/delivery must NOT have additional property 'turbo'"],
      ['an unknown field', { webhook: 'x' }, "body must NOT have additional property 'webhook'"],
      ['a header value with a line break', { authorization: 'Basic abc\r\nX-Evil: 1' }, 'body/authorization must be a valid header value (one line of printable ASCII, no leading or trailing spaces)'],
      ['an empty header value', { authorization: '' }, 'body/authorization must NOT have fewer than 1 characters'],
      ['credentials without a secret', { authorization: { accessKeyId: 'id' } }, "body/authorization must have required property 'accessSecret'"],
      ['credentials with an unknown field', { authorization: { accessKeyId: 'id', accessSecret: 's', region: 'eu' } }, "body/authorization must NOT have additional property 'region'"],
      ['an access key id with a colon', { authorization: { accessKeyId: 'a:b', accessSecret: 's' } }, 'body/authorization/accessKeyId must not contain ":"'],
      ['authorization of another type', { authorization: 42 }, 'body/authorization must be string or object'],
    ])('refuses %s', async (_name, overrides, message) => {
      const res = await h.api('POST', `/v1/projects/${projectId}/syncs`, syncBody(overrides));
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ statusCode: 400, error: 'Bad Request', message });
    });

    it('refuses a configuration too large to publish, writing nothing', async () => {
      const countBefore = (await database.handle.db.select().from(outbox)).length;
      const eventProperties = Array.from({ length: 600 }, (_, i) => `${i}-${'p'.repeat(1000)}`);
      const res = await h.api('POST', `/v1/projects/${projectId}/syncs`, syncBody({ eventProperties }));
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toMatch(/^body makes the sync's configuration \d+ bytes, more than the 524288 allowed/);
      expect((await database.handle.db.select().from(outbox)).length).toBe(countBefore);
    });
  });

  describe('with private endpoints allowed', () => {
    let open: AppHarness;
    beforeAll(async () => {
      open = await startApp(database.handle, { allowPrivateEndpoints: true });
    });
    afterAll(() => open?.close());

    it.each(['http://127.0.0.1:9999/behavioral', 'https://internal.example.com/x', 'http://localhost:8080/x'])('accepts %s', async (endpointUrl) => {
      const res = await open.api('POST', `/v1/projects/${projectId}/syncs`, syncBody({ endpointUrl }));
      expect(res.statusCode).toBe(201);
    });

    it('still requires http or https', async () => {
      const res = await open.api('POST', `/v1/projects/${projectId}/syncs`, syncBody({ endpointUrl: 'gopher://127.0.0.1/x' }));
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toBe('body/endpointUrl must be an http or https URL');
    });
  });

  describe('read', () => {
    it('lists the syncs of a project, oldest first, without deleted ones', async () => {
      const own = (await h.api('POST', '/v1/projects', { name: 'Lister' })).json<{ id: string }>().id;
      const first = await createSync({ name: 'first' }, own);
      const second = await createSync({ name: 'second' }, own);
      const gone = await createSync({ name: 'gone' }, own);
      expect((await h.api('DELETE', `/v1/syncs/${gone.id}`)).statusCode).toBe(204);
      const res = await h.api('GET', `/v1/projects/${own}/syncs`);
      expect(res.statusCode).toBe(200);
      expect(res.json<SyncResponse[]>().map((s) => s.id)).toEqual([first.id, second.id]);
    });

    it('reads one sync with its version as ETag', async () => {
      const sync = await createSync();
      const res = await h.api('GET', `/v1/syncs/${sync.id}`);
      expect(res.statusCode).toBe(200);
      expect(res.headers.etag).toBe('"1"');
      expect(res.json()).toEqual(sync);
    });

    it.each([
      ['GET', `/v1/syncs/${unknownId}`],
      ['PATCH', `/v1/syncs/${unknownId}`],
      ['DELETE', `/v1/syncs/${unknownId}`],
      ['GET', `/v1/syncs/${unknownId}/history`],
    ] as const)('%s %s → 404', async (method, url) => {
      const res = await h.api(method, url, method === 'PATCH' ? { name: 'x' } : undefined);
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ statusCode: 404, error: 'Not Found', message: `sync ${unknownId} not found` });
    });

    it.each(['/v1/syncs/42', '/v1/syncs/42/history', '/v1/projects/42/syncs'])('names a malformed id in %s', async (url) => {
      const res = await h.api('GET', url);
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toMatch(/^params\/(syncId|projectId) must match format "uuid"$/);
    });
  });

  describe('update', () => {
    it('changes only the fields given and merges delivery settings', async () => {
      const sync = await createSync({ delivery: { batchSize: 10 }, eventProperties: ['a'] });
      const res = await patch(sync.id, { name: 'renamed', delivery: { retryWindowSeconds: 600 } });
      expect(res.statusCode).toBe(200);
      expect(res.headers.etag).toBe('"2"');
      expect(res.json()).toMatchObject({
        name: 'renamed',
        eventProperties: ['a'],
        endpointUrl: ENDPOINT_URL,
        delivery: { ...DEFAULT_DELIVERY_SETTINGS, batchSize: 10, retryWindowSeconds: 600 },
        version: 2,
      });
      expect(Date.parse(res.json().updatedAt)).toBeGreaterThanOrEqual(Date.parse(sync.updatedAt as string));
    });

    it.each(['"1"', '1', 'W/"1"', '*'])('applies with If-Match %s at the current version', async (ifMatch) => {
      const sync = await createSync();
      const res = await patch(sync.id, { enabled: true }, { 'if-match': ifMatch });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ enabled: true, version: 2, status: { state: 'healthy' } });
    });

    it('refuses a stale If-Match with 409 and changes nothing', async () => {
      const sync = await createSync();
      expect((await patch(sync.id, { name: 'v2' })).statusCode).toBe(200);
      const res = await patch(sync.id, { name: 'lost update' }, { 'if-match': '"1"' });
      expect(res.statusCode).toBe(409);
      expect(res.json()).toEqual({ statusCode: 409, error: 'Conflict', message: `sync ${sync.id} is at version 2, not 1` });
      expect((await h.api('GET', `/v1/syncs/${sync.id}`)).json()).toMatchObject({ name: 'v2', version: 2 });
    });

    it('names a malformed If-Match', async () => {
      const sync = await createSync();
      const res = await patch(sync.id, { name: 'x' }, { 'if-match': 'yesterday' });
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toBe('headers/if-match must be a sync version, e.g. "3"');
    });

    it('validates what it changes like create does', async () => {
      const sync = await createSync();
      for (const [body, message] of [
        [{ endpointUrl: 'https://10.1.2.3/x' }, 'body/endpointUrl must not point to a private address (10.1.2.3)'],
        [{ delivery: { maxRequestBytes: 3_000_000 } }, 'body/delivery/maxRequestBytes must be <= 2000000'],
        [{ eventFilters: [{ eventType: 'a', where: [{ propertyType: 'event', property: 'p', operator: 'is', values: [] }] }] }, 'body/eventFilters/0/where/0/values must not be empty for operator "is"'],
        [{ id: 'mine' }, "body must NOT have additional property 'id'"],
        [{ version: 9 }, "body must NOT have additional property 'version'"],
        [{ enabled: 'true' }, 'body/enabled must be boolean'],
      ] as const) {
        const res = await patch(sync.id, body);
        expect(res.statusCode, JSON.stringify(body)).toBe(400);
        expect(res.json().message).toContain(message);
      }
      expect((await h.api('GET', `/v1/syncs/${sync.id}`)).json().version).toBe(1);
    });

    it('leaves version, history and outbox alone when nothing changes', async () => {
      const sync = await createSync({ authorization: 'Basic c2FtZTpzYW1l', delivery: { batchSize: 3 } });
      const changesBefore = h.changes();
      const res = await patch(sync.id, { name: sync.name, authorization: 'Basic c2FtZTpzYW1l', delivery: { batchSize: 3 } });
      expect(res.statusCode).toBe(200);
      expect(res.json().version).toBe(1);
      expect(h.changes()).toBe(changesBefore);
      expect(await outboxSnapshots(database.handle.db, configKey.sync(sync.id))).toHaveLength(1);
    });

    it('re-seals a new authorization and records it masked', async () => {
      const sync = await createSync();
      const res = await patch(sync.id, { authorization: { accessKeyId: 'new-key-id', accessSecret: 'new-secret-value' } });
      const header = `Basic ${Buffer.from('new-key-id:new-secret-value').toString('base64')}`;
      expect(res.json().authorization).toBe(`Basic ****${header.slice(-6)}`);
      const [row] = await database.handle.db.select().from(syncs).where(eq(syncs.id, sync.id));
      expect(h.secretBox.open(row!.authorizationSealed)).toBe(header);
      const history = (await h.api('GET', `/v1/syncs/${sync.id}/history`)).json<Array<{ changes: unknown }>>();
      expect(history[1]!.changes).toEqual({ authorization: { from: 'Basic ****', to: `Basic ****${header.slice(-6)}` } });
    });

    it('refuses to change a sync of a deleted project', async () => {
      const own = (await h.api('POST', '/v1/projects', { name: 'Short-lived' })).json<{ id: string }>().id;
      const sync = await createSync({}, own);
      expect((await h.api('DELETE', `/v1/projects/${own}`)).statusCode).toBe(204);
      const res = await patch(sync.id, { enabled: true });
      expect(res.statusCode).toBe(409);
      expect(res.json().message).toBe(`sync ${sync.id} belongs to project ${own}, which was deleted`);
    });
  });

  describe('delete', () => {
    it('marks the sync deleted; it is gone but its history stays', async () => {
      const sync = await createSync();
      const res = await h.api('DELETE', `/v1/syncs/${sync.id}`);
      expect(res.statusCode).toBe(204);
      expect(res.body).toBe('');
      expect((await h.api('GET', `/v1/syncs/${sync.id}`)).statusCode).toBe(404);
      expect((await patch(sync.id, { name: 'x' })).statusCode).toBe(404);
      expect((await h.api('DELETE', `/v1/syncs/${sync.id}`)).statusCode).toBe(404);
      expect((await h.api('GET', `/v1/syncs/${sync.id}/history`)).statusCode).toBe(200);
      const snapshots = await outboxSnapshots(database.handle.db, configKey.sync(sync.id));
      expect(snapshots.at(-1)).toMatchObject({ version: 2, deleted: true });
    });

    it('honours If-Match', async () => {
      const sync = await createSync();
      expect((await h.api('DELETE', `/v1/syncs/${sync.id}`, undefined, { 'if-match': '"7"' })).statusCode).toBe(409);
      expect((await h.api('DELETE', `/v1/syncs/${sync.id}`, undefined, { 'if-match': '"1"' })).statusCode).toBe(204);
    });
  });

  describe('history', () => {
    it('records created → updated → enabled → disabled → deleted, oldest first', async () => {
      const sync = await createSync({ authorization: 'Basic aGlzdG9yeTpzZWNyZXQ=' });
      expect((await patch(sync.id, { name: 'renamed', eventProperties: ['price'] })).statusCode).toBe(200);
      expect((await patch(sync.id, { enabled: true })).statusCode).toBe(200);
      expect((await patch(sync.id, { enabled: false, sendUsers: true })).statusCode).toBe(200);
      expect((await h.api('DELETE', `/v1/syncs/${sync.id}`)).statusCode).toBe(204);

      const res = await h.api('GET', `/v1/syncs/${sync.id}/history`);
      expect(res.statusCode).toBe(200);
      const events = res.json<Array<{ version: number; type: string; at: string; actor: string; changes: Record<string, unknown> }>>();
      expect(events.map((e) => [e.version, e.type, e.actor])).toEqual([
        [1, 'created', 'admin'],
        [2, 'updated', 'admin'],
        [3, 'enabled', 'admin'],
        [4, 'disabled', 'admin'],
        [5, 'deleted', 'admin'],
      ]);
      expect(events[0]!.changes).toMatchObject({
        name: { from: null, to: 'Movable Ink – prod' },
        authorization: { from: null, to: 'Basic ****NyZXQ=' },
        delivery: { from: null, to: DEFAULT_DELIVERY_SETTINGS },
      });
      expect(events[1]!.changes).toEqual({
        name: { from: 'Movable Ink – prod', to: 'renamed' },
        eventProperties: { from: [], to: ['price'] },
      });
      expect(events[2]!.changes).toEqual({ enabled: { from: false, to: true } });
      expect(events[3]!.changes).toEqual({ enabled: { from: true, to: false }, sendUsers: { from: false, to: true } });
      expect(events[4]!.changes).toEqual({});
      for (const event of events) expect(Date.parse(event.at)).not.toBeNaN();
      expect(res.body).not.toContain('aGlzdG9yeTpzZWNyZXQ=');

      const snapshots = await outboxSnapshots(database.handle.db, configKey.sync(sync.id));
      expect(snapshots.map((s) => [s.version, (s as { enabled: boolean }).enabled, s.deleted])).toEqual([
        [1, false, false],
        [2, false, false],
        [3, true, false],
        [4, false, false],
        [5, false, true],
      ]);
    });
  });
});
