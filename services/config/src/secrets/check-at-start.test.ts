import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configKey, type SyncSnapshot } from '@inkstream/contracts';
import { createSecretBox } from '@inkstream/secret-box';
import { projects, syncHistory, syncs } from '../db/schema.js';
import { testDrivers, type OpenedTestDatabase } from '../testing/drivers.js';
import { startApp, syncBody, type AppHarness } from '../testing/harness.js';
import { captureLogs } from '../testing/logs.js';
import { outboxSnapshots } from '../testing/outbox.js';
import { SecretKeyMismatchError, checkSecretKeyAtStart } from './check-at-start.js';
import { RESEAL_ACTOR } from './reseal.js';

const newKey = () => randomBytes(32).toString('hex');

describe.each(testDrivers)('SECRET_KEY against the stored secrets on $name', (driver) => {
  let database: OpenedTestDatabase;
  const logs = captureLogs();
  const oldKey = newKey();
  let h: AppHarness;
  let project: { id: string; apiKey: string };
  let live: { id: string; version: number };
  let deleted: { id: string };

  beforeAll(async () => {
    database = await driver.open(logs.logger);
    h = await startApp(database.handle, { secretBox: createSecretBox(oldKey) });
    project = (await h.api('POST', '/v1/projects', { name: 'Shop' })).json();
    live = (await h.api('POST', `/v1/projects/${project.id}/syncs`, syncBody({ authorization: 'Basic bGl2ZQ==' }))).json();
    deleted = (await h.api('POST', `/v1/projects/${project.id}/syncs`, syncBody())).json();
    expect((await h.api('DELETE', `/v1/syncs/${deleted.id}`)).statusCode).toBe(204);
    await h.close();
  });
  afterAll(() => database?.dispose());

  it('lets an empty database start with any key', async () => {
    const empty = await driver.open(logs.logger);
    try {
      const { verdict } = await checkSecretKeyAtStart(empty.handle.db, createSecretBox(newKey()), logs.logger);
      expect(verdict).toMatchObject({ start: true, reseal: 0 });
    } finally {
      await empty.dispose();
    }
  });

  it('refuses another key with a message that says what to do, and changes nothing', async () => {
    const before = await database.handle.db.select().from(syncs);
    const check = checkSecretKeyAtStart(database.handle.db, createSecretBox(newKey()), logs.logger);
    await expect(check).rejects.toThrow(SecretKeyMismatchError);
    await expect(check).rejects.toThrow(/^SECRET_KEY does not open any of the 3 secrets stored in the database/);
    await expect(checkSecretKeyAtStart(database.handle.db, createSecretBox(newKey(), newKey()), logs.logger)).rejects.toThrow(
      /^Neither SECRET_KEY nor SECRET_KEY_PREVIOUS opens any of the 3 secrets/,
    );
    expect(await database.handle.db.select().from(syncs)).toEqual(before);
  });

  it('accepts the key the data was sealed with and re-seals nothing', async () => {
    const { verdict, resealed } = await checkSecretKeyAtStart(database.handle.db, createSecretBox(oldKey), logs.logger);
    expect(verdict).toMatchObject({ start: true, reseal: 0, unreadable: [] });
    expect(resealed).toEqual({ projects: 0, syncs: 0 });
  });

  it('rotates: reads with the previous key, re-seals everything under the new one, and republishes the live sync', async () => {
    const newer = newKey();
    const rotating = createSecretBox(newer, oldKey);
    const { resealed } = await checkSecretKeyAtStart(database.handle.db, rotating, logs.logger);
    expect(resealed).toEqual({ projects: 1, syncs: 2 });

    // Everything opens with the new key alone now, to the same clear values.
    const alone = createSecretBox(newer);
    const [projectRow] = await database.handle.db.select().from(projects).where(eq(projects.id, project.id));
    expect(alone.open(projectRow!.apiKeySealed)).toBe(project.apiKey);
    const [liveRow] = await database.handle.db.select().from(syncs).where(eq(syncs.id, live.id));
    expect(alone.open(liveRow!.authorizationSealed)).toBe('Basic bGl2ZQ==');
    const [deletedRow] = await database.handle.db.select().from(syncs).where(eq(syncs.id, deleted.id));
    expect(alone.keyOf(deletedRow!.authorizationSealed)).toBe('current');

    // The live sync: a new version, its history says why, its snapshot carries the new seal.
    expect(liveRow!.version).toBe(live.version + 1);
    const history = await database.handle.db.select().from(syncHistory).where(eq(syncHistory.syncId, live.id));
    expect(history.at(-1)).toMatchObject({
      version: live.version + 1,
      type: 'updated',
      actor: RESEAL_ACTOR,
      changes: { authorization: { from: 'Basic ****', to: 'Basic ****' } },
    });
    const snapshot = (await outboxSnapshots(database.handle.db, configKey.sync(live.id))).at(-1) as SyncSnapshot;
    expect(snapshot).toMatchObject({ version: live.version + 1, authorizationSealed: liveRow!.authorizationSealed });
    // The deleted sync is re-sealed in place: no new version, no history after its deletion.
    expect(deletedRow!.version).toBe(2);

    // A second start has nothing left to do and says the previous key can go.
    const again = await checkSecretKeyAtStart(database.handle.db, rotating, logs.logger);
    expect(again.resealed).toEqual({ projects: 0, syncs: 0 });
    expect(again.verdict.notes.join()).toMatch(/SECRET_KEY_PREVIOUS is set but no stored secret is sealed under it/);
    // And the old key alone is now the wrong key.
    await expect(checkSecretKeyAtStart(database.handle.db, createSecretBox(oldKey), logs.logger)).rejects.toThrow(SecretKeyMismatchError);
  });
});

describe.each(testDrivers)('rows SECRET_KEY cannot open, on $name', (driver) => {
  let database: OpenedTestDatabase;
  let h: AppHarness;
  const logs = captureLogs();

  beforeAll(async () => {
    database = await driver.open(logs.logger);
    h = await startApp(database.handle);
  });
  afterAll(async () => {
    await h?.close();
    await database?.dispose();
  });

  it('never fail a list: such a project is shown with apiKey null, its sync cannot be tested, both can be repaired', async () => {
    const good = (await h.api('POST', '/v1/projects', { name: 'good' })).json<{ id: string; apiKey: string }>();
    const bad = (await h.api('POST', '/v1/projects', { name: 'bad' })).json<{ id: string }>();
    const sync = (await h.api('POST', `/v1/projects/${bad.id}/syncs`, syncBody())).json<{ id: string }>();
    // Sealed by a config replica running with another key (or damaged): this app cannot open them.
    const foreign = createSecretBox(newKey());
    await database.handle.db.update(projects).set({ apiKeySealed: foreign.seal('0'.repeat(32)) }).where(eq(projects.id, bad.id));
    await database.handle.db.update(syncs).set({ authorizationSealed: foreign.seal('Basic eA==') }).where(eq(syncs.id, sync.id));

    const list = await h.api('GET', '/v1/projects');
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json()).toEqual([
      expect.objectContaining({ id: good.id, apiKey: good.apiKey }),
      expect.objectContaining({ id: bad.id, apiKey: null }),
    ]);
    expect((await h.api('GET', `/v1/projects/${bad.id}`)).json()).toMatchObject({ id: bad.id, apiKey: null });
    expect((await h.api('GET', `/v1/projects/${bad.id}/syncs`)).statusCode).toBe(200);

    const test = await h.api('POST', `/v1/syncs/${sync.id}/test`);
    expect(test.statusCode).toBe(409);
    expect(test.json<{ message: string }>().message).toMatch(/sealed under another SECRET_KEY.*PATCH/);

    // The start-up check reports them and still starts: the key opens the other secrets.
    const { verdict } = await checkSecretKeyAtStart(database.handle.db, h.secretBox, logs.logger);
    expect(verdict.start).toBe(true);
    expect(verdict.unreadable.map((v) => v.id).sort()).toEqual([bad.id, sync.id].sort());
    expect(logs.lines()).toContainEqual(expect.objectContaining({ msg: 'secrets that SECRET_KEY cannot open', count: 2 }));

    // Repairs through the API: a new api key, the authorization set again.
    const rotated = (await h.api('POST', `/v1/projects/${bad.id}/rotate-key`)).json<{ apiKey: string }>();
    expect(rotated.apiKey).toMatch(/^[0-9a-f]{32}$/);
    expect((await h.api('GET', `/v1/projects/${bad.id}`)).json()).toMatchObject({ apiKey: rotated.apiKey });
    expect((await h.api('PATCH', `/v1/syncs/${sync.id}`, { authorization: 'Basic eA==' })).json()).toMatchObject({ version: 2 });
    const after = await checkSecretKeyAtStart(database.handle.db, h.secretBox, logs.logger);
    expect(after.verdict.unreadable).toEqual([]);
  });
});
