import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '@inkstream/testing';

// `npm start` (scripts/start.mjs and scripts/start/*.mjs): the NATS it starts when none runs, the
// secrets it never regenerates over a database. Every NATS here is private, on a free port.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NATS_DIR = '/usr/sbin';

interface NatsHandle {
  started: boolean;
  binary?: string;
  storeDir?: string;
  pid?: number;
  stop(): Promise<void>;
}
interface NatsModule {
  StartError: new (message: string) => Error;
  natsReachable(url: string, timeoutMs?: number): Promise<boolean>;
  findNatsServer(pathValue?: string, extraDirs?: string[]): string | undefined;
  ensureNats(options: { url: string; dataDir: string; onLine?: (line: string) => void; pathValue?: string; extraDirs?: string[] }): Promise<NatsHandle>;
}
interface Secrets {
  ADMIN_TOKEN: string;
  SECRET_KEY: string;
  SECRET_KEY_PREVIOUS?: string;
  generated: string[];
  notes: string[];
}
interface SecretsModule {
  loadOrCreateSecrets(options: { dataDir: string; secretsFile: string; pgliteDir: string; env?: Record<string, string | undefined> }): Secrets;
}

const load = async <T>(file: string) => (await import(pathToFileURL(join(ROOT, 'scripts', 'start', file)).href)) as T;
const tempDir = () => mkdtempSync(join(tmpdir(), 'inkstream-start-'));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm start: a NATS when none runs', () => {
  let nats: NatsModule;
  const dirs: string[] = [];
  const handles: NatsHandle[] = [];

  beforeAll(async () => {
    nats = await load<NatsModule>('nats.mjs');
  });
  afterAll(async () => {
    for (const handle of handles) await handle.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('finds nats-server on the PATH, or where Debian puts it, or not at all', () => {
    expect(nats.findNatsServer(NATS_DIR, [])).toBe(join(NATS_DIR, 'nats-server'));
    expect(nats.findNatsServer('/nonexistent', [NATS_DIR])).toBe(join(NATS_DIR, 'nats-server'));
    expect(nats.findNatsServer('/nonexistent', [])).toBeUndefined();
  });

  it('starts nats-server with JetStream and its store under the data dir, uses it, and stops it', async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const url = `nats://127.0.0.1:${await freePort()}`;
    const lines: string[] = [];
    const handle = await nats.ensureNats({ url, dataDir, onLine: (line) => lines.push(line), pathValue: NATS_DIR, extraDirs: [] });
    handles.push(handle);
    expect(handle).toMatchObject({ started: true, binary: join(NATS_DIR, 'nats-server'), storeDir: join(dataDir, 'nats') });
    expect(await nats.natsReachable(url)).toBe(true);

    // JetStream works, and keeps its data under .data/nats.
    const nc = await connect({ servers: url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'START_TEST', subjects: ['start.test'] });
    expect((await jsm.streams.info('START_TEST')).config.name).toBe('START_TEST');
    await nc.close();
    expect(existsSync(join(dataDir, 'nats', 'jetstream'))).toBe(true);
    expect(lines.join('\n')).toMatch(/Starting JetStream|Server is ready/);

    // A second start finds it running and starts nothing.
    expect(await nats.ensureNats({ url, dataDir, pathValue: NATS_DIR, extraDirs: [] })).toMatchObject({ started: false });

    await handle.stop();
    expect(await nats.natsReachable(url)).toBe(false);
    expect(alive(handle.pid!)).toBe(false);
  });

  it('says how to install one when nats-server is not installed', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const attempt = nats.ensureNats({ url, dataDir: tempDir(), pathValue: '/nonexistent', extraDirs: [] });
    await expect(attempt).rejects.toBeInstanceOf(nats.StartError);
    const message = await attempt.catch((err: Error) => err.message);
    expect(message).toContain(`Cannot reach NATS at ${url}`);
    for (const how of ['sudo apt install nats-server', 'brew install nats-server', 'docker run -d -p 4222:4222 nats:2 -js']) {
      expect(message).toContain(how);
    }
  });

  it('does not start a local server for a NATS_URL on another machine', async () => {
    await expect(nats.ensureNats({ url: 'nats://nats.example.invalid:4222', dataDir: tempDir(), pathValue: NATS_DIR })).rejects.toThrow(
      /Cannot reach NATS at nats:\/\/nats\.example\.invalid:4222\. Start that server/,
    );
  });

  it('reports nats-server’s own words when it cannot start (the port is taken by something else)', async () => {
    const squatter: Server = createServer((socket) => socket.on('error', () => undefined));
    const port = await freePort();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      const attempt = nats.ensureNats({ url: `nats://127.0.0.1:${port}`, dataDir: tempDir(), pathValue: NATS_DIR, extraDirs: [] });
      await expect(attempt).rejects.toThrow(/nats-server \(\/usr\/sbin\/nats-server\) did not start on 127\.0\.0\.1:\d+:\n.*(address already in use|listen)/is);
    } finally {
      squatter.close();
    }
  });
});

describe('npm start: secrets', () => {
  let secrets: SecretsModule;
  beforeAll(async () => {
    secrets = await load<SecretsModule>('secrets.mjs');
  });

  const layout = () => {
    const dataDir = tempDir();
    return { dataDir, secretsFile: join(dataDir, 'secrets.env'), pgliteDir: join(dataDir, 'pglite') };
  };

  it('generates both on first run into a file only its owner reads, then keeps them', () => {
    const paths = layout();
    const first = secrets.loadOrCreateSecrets({ ...paths, env: {} });
    expect(first.generated).toEqual(['ADMIN_TOKEN', 'SECRET_KEY']);
    expect(first.SECRET_KEY).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(paths.secretsFile).mode & 0o777).toBe(0o600);
    mkdirSync(paths.pgliteDir);
    writeFileSync(join(paths.pgliteDir, 'PG_VERSION'), '15');
    const again = secrets.loadOrCreateSecrets({ ...paths, env: {} });
    expect(again).toEqual({ ADMIN_TOKEN: first.ADMIN_TOKEN, SECRET_KEY: first.SECRET_KEY, generated: [], notes: [] });
  });

  it('refuses to generate a SECRET_KEY over an existing embedded database, and writes nothing', () => {
    const paths = layout();
    mkdirSync(paths.pgliteDir);
    writeFileSync(join(paths.pgliteDir, 'PG_VERSION'), '15');
    expect(() => secrets.loadOrCreateSecrets({ ...paths, env: {} })).toThrow(
      /has no SECRET_KEY, but the embedded database in .*pglite holds project api keys[\s\S]*SECRET_KEY=<key>[\s\S]*mv /,
    );
    expect(existsSync(paths.secretsFile)).toBe(false);
    // The same file with only the token left: the key is still not made up.
    writeFileSync(paths.secretsFile, 'ADMIN_TOKEN=abc\n');
    expect(() => secrets.loadOrCreateSecrets({ ...paths, env: {} })).toThrow(/has no SECRET_KEY/);
    expect(readFileSync(paths.secretsFile, 'utf8')).toBe('ADMIN_TOKEN=abc\n');
  });

  it('takes the key from the environment, with SECRET_KEY_PREVIOUS for a rotation', () => {
    const paths = layout();
    mkdirSync(paths.pgliteDir);
    writeFileSync(join(paths.pgliteDir, 'PG_VERSION'), '15');
    const key = randomBytes(32).toString('hex');
    const previous = randomBytes(32).toString('hex');
    const got = secrets.loadOrCreateSecrets({ ...paths, env: { SECRET_KEY: key, SECRET_KEY_PREVIOUS: previous } });
    expect(got).toMatchObject({ SECRET_KEY: key, SECRET_KEY_PREVIOUS: previous, generated: ['ADMIN_TOKEN'] });
    expect(readFileSync(paths.secretsFile, 'utf8')).not.toMatch(/^SECRET_KEY/m);
  });

  it('generates over an empty PGlite dir; with DATABASE_URL it generates and says what happens if the key is wrong', () => {
    const empty = layout();
    mkdirSync(empty.pgliteDir);
    expect(secrets.loadOrCreateSecrets({ ...empty, env: {} }).generated).toContain('SECRET_KEY');
    const postgres = layout();
    mkdirSync(postgres.pgliteDir);
    writeFileSync(join(postgres.pgliteDir, 'PG_VERSION'), '15');
    const got = secrets.loadOrCreateSecrets({ ...postgres, env: { DATABASE_URL: 'postgres://x/y' } });
    expect(got.generated).toContain('SECRET_KEY');
    expect(got.notes.join()).toMatch(/the config service refuses to start and says so/);
  });
});

describe('npm start, the whole script, with no NATS running', () => {
  const dataDir = tempDir();
  let child: ChildProcess | undefined;
  let output = '';
  let databaseName: string | undefined;
  const adminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

  const run = (env: Record<string, string>) => {
    output = '';
    child = spawn(process.execPath, [join(ROOT, 'scripts', 'start.mjs')], {
      cwd: ROOT,
      env: { PATH: `${process.env.PATH ?? ''}:${NATS_DIR}`, HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1', INKSTREAM_DATA_DIR: dataDir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    return new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
  };
  const natsPid = () => Number(/\(pid (\d+)\) with JetStream/.exec(output)?.[1] ?? 0);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    const pid = natsPid();
    if (pid && alive(pid)) process.kill(pid, 'SIGTERM');
    if (databaseName) {
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      await admin.query(`drop database if exists "${databaseName}" with (force)`);
      await admin.end();
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts nats-server itself, runs the services on it, and stops it on Ctrl-C', async () => {
    databaseName = `inkstream_start_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`create database "${databaseName}"`);
    await admin.end();
    const database = new URL(adminUrl);
    database.pathname = `/${databaseName}`;

    const natsPort = await freePort();
    const ports = { INGEST_PORT: await freePort(), CONFIG_PORT: await freePort(), FILTER_PORT: await freePort(), DELIVERY_PORT: await freePort() };
    const exited = run({
      NATS_URL: `nats://127.0.0.1:${natsPort}`,
      DATABASE_URL: database.toString(),
      LOG_LEVEL: 'warn',
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    });
    await waitFor(() => output.includes('inkstream is running') || child!.exitCode !== null, 'npm start to be ready', 170_000, 250);
    expect(output, output).toContain('inkstream is running');
    expect(output).toMatch(new RegExp(`nothing answered at nats://127\\.0\\.0\\.1:${natsPort}: started /usr/sbin/nats-server \\(pid \\d+\\) with JetStream, store in ${dataDir}/nats`));
    expect(existsSync(join(dataDir, 'nats', 'jetstream'))).toBe(true);
    const pid = natsPid();
    expect(alive(pid)).toBe(true);

    // The services work on it: a project is created and reaches NATS.
    const token = /^ADMIN_TOKEN=(.+)$/m.exec(readFileSync(join(dataDir, 'secrets.env'), 'utf8'))![1]!;
    const created = await fetch(`http://127.0.0.1:${ports.CONFIG_PORT}/v1/projects`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Started' }),
    });
    expect(created.status).toBe(201);

    // Ctrl-C: the services stop, then the NATS npm start started.
    child!.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(alive(pid)).toBe(false);
    const probe = await import(pathToFileURL(join(ROOT, 'scripts', 'start', 'nats.mjs')).href) as NatsModule;
    expect(await probe.natsReachable(`nats://127.0.0.1:${natsPort}`)).toBe(false);
  });

  it('refuses to start over an embedded database whose SECRET_KEY is lost, before starting anything', async () => {
    rmSync(join(dataDir, 'secrets.env'), { force: true });
    mkdirSync(join(dataDir, 'pglite'), { recursive: true });
    writeFileSync(join(dataDir, 'pglite', 'PG_VERSION'), '15');
    const natsPort = await freePort();
    const code = await run({ NATS_URL: `nats://127.0.0.1:${natsPort}` });
    expect(code).toBe(1);
    expect(output).toContain('has no SECRET_KEY, but the embedded database');
    expect(output).not.toContain('started /usr/sbin/nats-server');
    expect(existsSync(join(dataDir, 'secrets.env'))).toBe(false);
  });
});
