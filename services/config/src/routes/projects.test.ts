import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configKey } from '@inkstream/contracts';
import { projects, syncHistory, syncs } from '../db/schema.js';
import { testDrivers, type OpenedTestDatabase } from '../testing/drivers.js';
import { startApp, syncBody, type AppHarness } from '../testing/harness.js';
import { captureLogs } from '../testing/logs.js';
import { outboxSnapshots } from '../testing/outbox.js';

const unknownId = '00000000-0000-4000-8000-000000000000';

describe.each(testDrivers)('project routes on $name', (driver) => {
  let database: OpenedTestDatabase;
  let h: AppHarness;

  beforeAll(async () => {
    database = await driver.open(captureLogs().logger);
    h = await startApp(database.handle);
  });
  afterAll(async () => {
    await h?.close();
    await database?.dispose();
  });

  const createProject = async (name = 'Shop') => {
    const res = await h.api('POST', '/v1/projects', { name });
    expect(res.statusCode).toBe(201);
    return res.json<{ id: string; name: string; apiKey: string; version: number; createdAt: string }>();
  };

  it('creates a project with an Amplitude-shaped api key', async () => {
    const before = h.changes();
    const project = await createProject('Web shop');
    expect(project).toMatchObject({ name: 'Web shop', version: 1 });
    expect(project.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(project.apiKey).toMatch(/^[0-9a-f]{32}$/);
    expect(Date.parse(project.createdAt)).not.toBeNaN();
    expect(h.changes()).toBe(before + 1);
  });

  it('stores only the hash and the sealed key, and queues the snapshot in the same change', async () => {
    const project = await createProject();
    const [row] = await database.handle.db.select().from(projects).where(eq(projects.id, project.id));
    expect(row!.apiKeyHash).toBe(createHash('sha256').update(project.apiKey).digest('hex'));
    expect(row!.apiKeySealed).not.toContain(project.apiKey);
    expect(h.secretBox.open(row!.apiKeySealed)).toBe(project.apiKey);
    const snapshots = await outboxSnapshots(database.handle.db, configKey.project(project.id));
    expect(snapshots).toEqual([
      expect.objectContaining({ kind: 'project', id: project.id, apiKeyHash: row!.apiKeyHash, version: 1, deleted: false }),
    ]);
    expect(JSON.stringify(snapshots)).not.toContain(project.apiKey);
  });

  it('lists and reads projects, with their key', async () => {
    const project = await createProject('Listed');
    const list = await h.api('GET', '/v1/projects');
    expect(list.statusCode).toBe(200);
    expect(list.json()).toContainEqual(expect.objectContaining({ id: project.id, name: 'Listed', apiKey: project.apiKey }));
    const one = await h.api('GET', `/v1/projects/${project.id}`);
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ id: project.id, apiKey: project.apiKey, version: 1 });
  });

  it.each([
    [{}, "body must have required property 'name'"],
    [{ name: '' }, 'body/name must NOT have fewer than 1 characters'],
    [{ name: 7 }, 'body/name must be string'],
    [{ name: 'x'.repeat(201) }, 'body/name must NOT have more than 200 characters'],
    [{ name: 'ok', apiKey: 'mine' }, "body must NOT have additional property 'apiKey'"],
  ])('refuses %j', async (body, message) => {
    const res = await h.api('POST', '/v1/projects', body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ statusCode: 400, error: 'Bad Request', message });
  });

  it('refuses a body that is not JSON', async () => {
    const res = await h.api('POST', '/v1/projects', '{"name":', { 'content-type': 'application/json' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, error: 'Bad Request' });
  });

  it.each([
    ['GET', `/v1/projects/${unknownId}`],
    ['POST', `/v1/projects/${unknownId}/rotate-key`],
    ['DELETE', `/v1/projects/${unknownId}`],
    ['GET', `/v1/projects/${unknownId}/syncs`],
  ] as const)('%s %s → 404', async (method, url) => {
    const res = await h.api(method, url);
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ statusCode: 404, error: 'Not Found', message: `project ${unknownId} not found` });
  });

  it('names a malformed id', async () => {
    const res = await h.api('GET', '/v1/projects/not-a-uuid');
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toBe('params/projectId must match format "uuid"');
  });

  it('rotates the key: a new key, a new version, a new snapshot', async () => {
    const project = await createProject();
    const res = await h.api('POST', `/v1/projects/${project.id}/rotate-key`);
    expect(res.statusCode).toBe(200);
    const rotated = res.json<{ apiKey: string; version: number }>();
    expect(rotated.apiKey).toMatch(/^[0-9a-f]{32}$/);
    expect(rotated.apiKey).not.toBe(project.apiKey);
    expect(rotated.version).toBe(2);
    expect((await h.api('GET', `/v1/projects/${project.id}`)).json().apiKey).toBe(rotated.apiKey);
    const snapshots = await outboxSnapshots(database.handle.db, configKey.project(project.id));
    expect(snapshots.map((s) => s.version)).toEqual([1, 2]);
    expect(snapshots[1]).toMatchObject({ apiKeyHash: createHash('sha256').update(rotated.apiKey).digest('hex') });
  });

  it('deletes a project: gone from the API, its key retired, its enabled syncs disabled with history', async () => {
    const project = await createProject('Doomed');
    const enabled = (await h.api('POST', `/v1/projects/${project.id}/syncs`, syncBody({ enabled: true }))).json<{ id: string }>();
    const disabled = (await h.api('POST', `/v1/projects/${project.id}/syncs`, syncBody())).json<{ id: string }>();

    const res = await h.api('DELETE', `/v1/projects/${project.id}`);
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');

    expect((await h.api('GET', `/v1/projects/${project.id}`)).statusCode).toBe(404);
    expect((await h.api('GET', '/v1/projects')).json()).not.toContainEqual(expect.objectContaining({ id: project.id }));
    expect((await h.api('POST', `/v1/projects/${project.id}/rotate-key`)).statusCode).toBe(404);
    expect((await h.api('POST', `/v1/projects/${project.id}/syncs`, syncBody())).statusCode).toBe(404);
    expect((await h.api('DELETE', `/v1/projects/${project.id}`)).statusCode).toBe(404);

    const projectSnapshots = await outboxSnapshots(database.handle.db, configKey.project(project.id));
    expect(projectSnapshots.at(-1)).toMatchObject({ deleted: true, version: 2 });

    const [enabledRow] = await database.handle.db.select().from(syncs).where(eq(syncs.id, enabled.id));
    expect(enabledRow).toMatchObject({ enabled: false, version: 2 });
    const history = await database.handle.db.select().from(syncHistory).where(eq(syncHistory.syncId, enabled.id));
    expect(history.map((e) => [e.version, e.type, e.changes])).toEqual([
      [1, 'created', expect.any(Object)],
      [2, 'disabled', { enabled: { from: true, to: false } }],
    ]);
    const syncSnapshots = await outboxSnapshots(database.handle.db, configKey.sync(enabled.id));
    expect(syncSnapshots.at(-1)).toMatchObject({ enabled: false, version: 2, deleted: false });

    // A sync that was already disabled is left as it was.
    const [disabledRow] = await database.handle.db.select().from(syncs).where(eq(syncs.id, disabled.id));
    expect(disabledRow).toMatchObject({ enabled: false, version: 1 });
  });
});
