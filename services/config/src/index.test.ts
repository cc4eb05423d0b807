import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigView } from '@inkstream/bus';
import { configKey } from '@inkstream/contracts';
import { HttpSender } from '@inkstream/movable-ink';
import { createSecretBox } from '@inkstream/secret-box';
import { createMetricsRegistry } from '@inkstream/service-kit';
import { buildConfigApp } from './app.js';
import { openPostgres } from './db/postgres.js';
import { createKvPublisher } from './outbox/kv-publisher.js';
import { OutboxRelay } from './outbox/relay.js';
import { createEndpointPolicy } from './syncs/endpoint-policy.js';
import { captureLogs } from './testing/logs.js';
import { deliveryOutcome, publishOutcomes } from './testing/delivery-facts.js';
import { TEST_NATS_URL, openTestBucket, openTestNats, testNamespace, type TestBucket } from './testing/nats.js';
import { createTestDatabase, type TestDatabase } from './testing/postgres.js';
import { runService, type ServiceProcess } from './testing/service-process.js';

const adminToken = randomBytes(20).toString('hex');
const secretKey = randomBytes(32).toString('hex');
const logs = captureLogs();

const baseSettings = (namespace: string) => ({
  ADMIN_TOKEN: adminToken,
  SECRET_KEY: secretKey,
  NATS_URL: TEST_NATS_URL,
  NATS_NAMESPACE: namespace,
  CONFIG_PORT: '0',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'info',
  ALLOW_PRIVATE_ENDPOINTS: 'true',
});

const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };

// Each start of the real process initialises PGlite or connects for real: slow on a busy machine.
describe('the config service process', { timeout: 180_000 }, () => {
  let service: ServiceProcess | undefined;
  const cleanups: Array<() => Promise<unknown>> = [];

  afterEach(async () => {
    await service?.stop('SIGKILL');
    service = undefined;
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  describe('with the embedded PGlite', () => {
    let dir: string;
    let bucket: TestBucket;
    const namespace = testNamespace();

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'inkstream-config-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      bucket = await openTestBucket(logs.logger, namespace);
      cleanups.push(() => bucket.dispose());
    });

    it('starts, serves, publishes, stops gracefully, and keeps its data across restarts', async () => {
      const settings = { ...baseSettings(namespace), PGLITE_DIR: join(dir, 'pglite') };
      service = runService(settings);
      let address = await service.listening();
      const ready = await fetch(`${address}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', checks: { database: true, nats: true } });

      const created = await fetch(`${address}/v1/projects`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'Proc' }) });
      expect(created.status).toBe(201);
      const project = (await created.json()) as { id: string; apiKey: string };
      await expect.poll(() => bucket.read(configKey.project(project.id)), { timeout: 30_000 }).toMatchObject({ version: 1 });

      // It projects delivery outcomes into the sync's metrics and status.
      const syncRes = await fetch(`${address}/v1/projects/${project.id}/syncs`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ name: 'MI', endpointUrl: 'http://127.0.0.1:9/x', authorization: 'Basic dGVzdDp0ZXN0', enabled: true }),
      });
      const sync = (await syncRes.json()) as { id: string };
      await publishOutcomes(bucket, [
        deliveryOutcome(sync.id, { result: 'failing', status: 401, at: Date.now() - 1_000 }),
      ]);
      await expect
        .poll(async () => ((await (await fetch(`${address}/v1/syncs/${sync.id}`, { headers: admin })).json()) as { status: unknown }).status, { timeout: 60_000 })
        .toEqual({ state: 'failing', lastError: 'HTTP 401' });
      expect(await (await fetch(`${address}/v1/syncs/${sync.id}/metrics`, { headers: admin })).json()).toMatchObject({ pendingRetries: 1 });

      expect(await service.stop('SIGTERM')).toBe(0);
      expect(service.output()).toContain('"msg":"stopped"');
      expect(service.output()).toContain('"msg":"projecting delivery outcomes"');

      service = runService(settings);
      address = await service.listening();
      const again = await fetch(`${address}/v1/projects/${project.id}`, { headers: admin });
      expect(again.status).toBe(200);
      expect(await again.json()).toMatchObject({ id: project.id, apiKey: project.apiKey });
    });
  });

  describe('with Postgres', () => {
    let database: TestDatabase;
    let bucket: TestBucket;
    const namespace = testNamespace();

    beforeAll(async () => {
      database = await createTestDatabase();
      cleanups.push(() => database.drop());
      bucket = await openTestBucket(logs.logger, namespace);
      cleanups.push(() => bucket.dispose());
    });

    it('publishes at start-up what was committed while NATS was unreachable', async () => {
      // A config service that could write to Postgres but never reached NATS, then died. (The
      // app has a connection of its own, elsewhere: only the relay publishes snapshots.)
      const handle = await openPostgres({ url: database.url, logger: logs.logger });
      const elsewhere = await openTestNats(logs.logger);
      const sender = new HttpSender({ allowPrivateEndpoints: true, connectionsPerOrigin: 1 });
      const app = await buildConfigApp({
        logger: logs.logger,
        metrics: createMetricsRegistry('config'),
        database: handle,
        secretBox: createSecretBox(secretKey),
        adminToken,
        endpointPolicy: createEndpointPolicy({ allowPrivateEndpoints: true }),
        bus: elsewhere.bus,
        topology: elsewhere.topology,
        profiles: elsewhere.profiles,
        sender,
      });
      const res = await app.inject({ method: 'POST', url: '/v1/projects', headers: admin, payload: { name: 'Pending' } });
      const project = res.json<{ id: string }>();
      await app.close();
      await sender.close();
      await elsewhere.dispose();
      await handle.close();
      expect(await bucket.read(configKey.project(project.id))).toBeUndefined();

      service = runService({ ...baseSettings(namespace), DATABASE_URL: database.url });
      await service.listening();
      await expect.poll(() => bucket.read(configKey.project(project.id)), { timeout: 30_000 }).toMatchObject({
        version: 1,
        name: 'Pending',
      });
      expect(await service.stop('SIGTERM')).toBe(0);
    });
  });

  it('refuses to start with a SECRET_KEY that does not open the stored secrets, and rotates with SECRET_KEY_PREVIOUS', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const namespace = testNamespace();
    const bucket = await openTestBucket(logs.logger, namespace);
    cleanups.push(() => bucket.dispose());
    const settings = { ...baseSettings(namespace), DATABASE_URL: database.url };
    service = runService(settings);
    let address = await service.listening();
    const created = await fetch(`${address}/v1/projects`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'Sealed' }) });
    const project = (await created.json()) as { id: string; apiKey: string };
    expect(await service.stop('SIGTERM')).toBe(0);

    // Another key (secrets.env lost, a typo): exit 1 before serving anything, saying what to do.
    const otherKey = randomBytes(32).toString('hex');
    service = runService({ ...settings, SECRET_KEY: otherKey });
    expect(await service.exited).toBe(1);
    expect(service.output()).toContain('cannot start: SECRET_KEY does not open any of the 1 secrets stored in the database');
    expect(service.output()).toContain('SECRET_KEY_PREVIOUS');
    expect(service.output()).not.toContain(otherKey);
    expect(service.output()).not.toContain('config API listening');

    // A rotation: the new key with the old one as SECRET_KEY_PREVIOUS; then the new key alone.
    service = runService({ ...settings, SECRET_KEY: otherKey, SECRET_KEY_PREVIOUS: secretKey });
    address = await service.listening();
    expect(service.output()).toContain('SECRET_KEY rotation');
    expect(await (await fetch(`${address}/v1/projects/${project.id}`, { headers: admin })).json()).toMatchObject({ apiKey: project.apiKey });
    expect(await service.stop('SIGTERM')).toBe(0);
    service = runService({ ...settings, SECRET_KEY: otherKey });
    address = await service.listening();
    expect(await (await fetch(`${address}/v1/projects`, { headers: admin })).json()).toEqual([
      expect.objectContaining({ id: project.id, apiKey: project.apiKey }),
    ]);
    expect(await service.stop('SIGTERM')).toBe(0);
  });

  it.each(['pglite', 'postgres'] as const)(
    'starting on a fresh %s database removes the projects and syncs NATS still remembers',
    async (driver) => {
      const namespace = testNamespace();
      const bucket = await openTestBucket(logs.logger, namespace);
      cleanups.push(() => bucket.dispose());
      const view = new ConfigView(logs.logger);
      await view.start(bucket.kv);
      cleanups.push(async () => view.stop());

      // A config database that filled the bucket, then was replaced (new PGlite dir, restored backup).
      const old = await createTestDatabase();
      cleanups.push(() => old.drop());
      const handle = await openPostgres({ url: old.url, logger: logs.logger });
      const nats = await openTestNats(logs.logger, namespace);
      const sender = new HttpSender({ allowPrivateEndpoints: true, connectionsPerOrigin: 1 });
      const app = await buildConfigApp({
        logger: logs.logger,
        metrics: createMetricsRegistry('config'),
        database: handle,
        secretBox: createSecretBox(secretKey),
        adminToken,
        endpointPolicy: createEndpointPolicy({ allowPrivateEndpoints: true }),
        bus: nats.bus,
        topology: nats.topology,
        profiles: nats.profiles,
        sender,
      });
      const project = (await app.inject({ method: 'POST', url: '/v1/projects', headers: admin, payload: { name: 'Old' } })).json<{ id: string; apiKey: string }>();
      const body = { name: 'MI', endpointUrl: 'http://127.0.0.1:9/x', authorization: 'Basic dGVzdDp0ZXN0', enabled: true };
      const sync = (await app.inject({ method: 'POST', url: `/v1/projects/${project.id}/syncs`, headers: admin, payload: body })).json<{ id: string }>();
      await new OutboxRelay({ db: handle.db, publisher: createKvPublisher(bucket.kv), logger: logs.logger }).drain();
      await app.close();
      await sender.close();
      await handle.close();
      await expect.poll(() => view.activeSyncsOf(project.id).map((s) => s.id), { timeout: 10_000 }).toEqual([sync.id]);

      let settings: Record<string, string>;
      if (driver === 'pglite') {
        const dir = await mkdtemp(join(tmpdir(), 'inkstream-config-'));
        cleanups.push(() => rm(dir, { recursive: true, force: true }));
        settings = { ...baseSettings(namespace), PGLITE_DIR: join(dir, 'pglite') };
      } else {
        const fresh = await createTestDatabase();
        cleanups.push(() => fresh.drop());
        settings = { ...baseSettings(namespace), DATABASE_URL: fresh.url };
      }
      service = runService(settings);
      await service.listening();
      // Ingest no longer knows the api key; filter and delivery no longer have the sync.
      await expect.poll(() => view.projectForKeyHash(createHash('sha256').update(project.apiKey).digest('hex')), { timeout: 10_000 }).toBeUndefined();
      expect(view.activeSyncsOf(project.id)).toEqual([]);
      expect(view.counts()).toEqual({ projects: 0, syncs: 1, activeSyncs: 0 });
      expect(await bucket.read(configKey.project(project.id))).toBeUndefined();
      expect(await bucket.read(configKey.sync(sync.id))).toBeUndefined();
      expect(service.output()).toContain('config bucket made equal to the database');
      expect(await service.stop('SIGTERM')).toBe(0);
      await nats.dispose();
    },
  );

  it('exits 1 with a clear message when NATS cannot be reached', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'inkstream-config-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    // It waits for NATS up to STARTUP_TIMEOUT_SECONDS (the server may be starting), then gives up.
    service = runService({ ...baseSettings(testNamespace()), NATS_URL: 'nats://127.0.0.1:1', PGLITE_DIR: dir, STARTUP_TIMEOUT_SECONDS: '2' });
    expect(await service.exited).toBe(1);
    expect(service.output()).toContain('cannot reach NATS at nats://127.0.0.1:1 (waited 2 s, STARTUP_TIMEOUT_SECONDS)');
    expect(service.output()).toContain('cannot start without NATS');
  });

  it('exits 1 listing every problem of its environment, secrets hidden', async () => {
    service = runService({ ADMIN_TOKEN: 'too-short', SECRET_KEY: 'not-a-key-at-all', CONFIG_PORT: 'http' });
    expect(await service.exited).toBe(1);
    const output = service.output();
    expect(output).toContain('config: cannot start, invalid environment');
    for (const name of ['ADMIN_TOKEN', 'SECRET_KEY', 'CONFIG_PORT']) expect(output).toContain(`  - ${name}: `);
    expect(output).not.toContain('too-short');
    expect(output).not.toContain('not-a-key-at-all');
  });
});
