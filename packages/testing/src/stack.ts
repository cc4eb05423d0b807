import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { existsSync, readFileSync } from 'node:fs';
import { waitFor } from './wait.js';

/** The repository root: the nearest folder above this file whose package.json has workspaces. */
function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && 'workspaces' in JSON.parse(readFileSync(manifest, 'utf8'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('repository root not found');
    dir = parent;
  }
}

const root = findRepoRoot();
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The module every launch path preloads with `node --import` (packages/telemetry). */
export const TELEMETRY_REGISTER = '@inkstream/telemetry/register';

export type ServiceName = 'config' | 'ingest' | 'filter' | 'delivery';
const SERVICES: ServiceName[] = ['config', 'ingest', 'filter', 'delivery'];
const key = (service: ServiceName, replica: number) => `${service}#${replica}`;
const PORT_VARS: Record<ServiceName, string> = {
  config: 'CONFIG_PORT',
  ingest: 'INGEST_PORT',
  filter: 'FILTER_PORT',
  delivery: 'DELIVERY_PORT',
};

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface StackOptions {
  /** Extra environment for every service (`NATS_URL` of a private server or cluster, say). */
  env?: Record<string, string>;
  /** Use embedded PGlite instead of a Postgres database. */
  pglite?: boolean;
  /** Processes per service (each on its own port). Default 1 of each. */
  replicas?: Partial<Record<ServiceName, number>>;
}

/**
 * The four services as real processes against the real NATS and Postgres, isolated by a
 * namespace of their own (streams, consumers, buckets) and a database of their own.
 */
export class Stack {
  readonly namespace = `e2e_${randomBytes(4).toString('hex')}`;
  readonly adminToken = randomBytes(18).toString('base64url');
  readonly secretKey = randomBytes(32).toString('hex');
  /** The port of each service's first replica. */
  readonly ports = {} as Record<ServiceName, number>;
  /** The port of every replica of each service. */
  readonly replicaPorts = { config: [], ingest: [], filter: [], delivery: [] } as Record<ServiceName, number[]>;
  /** Every log line of each service (all its replicas). */
  readonly logs: Record<ServiceName, string[]> = { config: [], ingest: [], filter: [], delivery: [] };
  private readonly replicaLogs = new Map<string, string[]>();
  private readonly children = new Map<string, ChildProcess>();
  private database: string | undefined;
  private env: Record<string, string> = {};

  constructor(private readonly options: StackOptions = {}) {}

  /** How many processes of a service the stack runs. */
  replicasOf(service: ServiceName): number {
    return Math.max(1, this.options.replicas?.[service] ?? 1);
  }

  /** The process id of a running service replica (for memory readings), if it runs. */
  pidOf(service: ServiceName, replica = 0): number | undefined {
    return this.children.get(key(service, replica))?.pid;
  }

  url(service: ServiceName, path = '', replica = 0): string {
    return `http://127.0.0.1:${this.replicaPorts[service][replica] ?? this.ports[service]}${path}`;
  }

  /** The log lines of one replica of a service. */
  logsOf(service: ServiceName, replica = 0): string[] {
    return this.replicaLogs.get(key(service, replica)) ?? [];
  }

  /** The NATS server(s) the services use. */
  get natsUrl(): string {
    return this.env.NATS_URL ?? this.options.env?.NATS_URL ?? NATS_URL;
  }

  async start(): Promise<void> {
    for (const s of SERVICES) {
      for (let r = 0; r < this.replicasOf(s); r++) this.replicaPorts[s].push(await freePort());
      this.ports[s] = this.replicaPorts[s][0]!;
    }
    const databaseEnv: Record<string, string> = {};
    if (this.options.pglite) {
      databaseEnv.PGLITE_DIR = join(root, '.data', 'test', this.namespace);
    } else {
      this.database = `inkstream_${this.namespace}`;
      const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${this.database}`);
      await admin.end();
      const url = new URL(ADMIN_DATABASE_URL);
      url.pathname = `/${this.database}`;
      databaseEnv.DATABASE_URL = url.toString();
    }
    this.env = {
      PATH: process.env.PATH ?? '',
      NATS_URL,
      NATS_NAMESPACE: this.namespace,
      ADMIN_TOKEN: this.adminToken,
      SECRET_KEY: this.secretKey,
      ALLOW_PRIVATE_ENDPOINTS: 'true',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      ...databaseEnv,
      ...Object.fromEntries(SERVICES.map((s) => [PORT_VARS[s], String(this.ports[s])])),
      ...this.options.env,
    };
    for (const s of SERVICES) for (let r = 0; r < this.replicasOf(s); r++) this.spawn(s, r);
    await Promise.all(SERVICES.flatMap((s) => Array.from({ length: this.replicasOf(s) }, (_, r) => this.waitReady(s, r))));
  }

  spawn(service: ServiceName, replica = 0): void {
    // Launched as in production: telemetry starts before the service's modules load.
    const args = ['--enable-source-maps', '--import', TELEMETRY_REGISTER, join(root, 'services', service, 'dist', 'index.js')];
    const port = this.replicaPorts[service][replica] ?? this.ports[service];
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: { ...this.env, [PORT_VARS[service]]: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const own = this.replicaLogs.get(key(service, replica)) ?? [];
    this.replicaLogs.set(key(service, replica), own);
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        this.logs[service].push(line);
        own.push(line);
      }
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.children.set(key(service, replica), child);
  }

  async waitReady(service: ServiceName, replica = 0): Promise<void> {
    const name = this.replicasOf(service) > 1 ? `${service} #${replica}` : service;
    await waitFor(
      async () => {
        const child = this.children.get(key(service, replica));
        if (child && child.exitCode !== null) {
          throw new Error(`${name} exited with ${child.exitCode}:\n${this.logsOf(service, replica).slice(-20).join('\n')}`);
        }
        return (await fetch(this.url(service, '/readyz', replica))).ok;
      },
      `${name} to be ready`,
      // Several processes start at once on a busy 2-core machine: generous.
      120_000,
      200,
    ).catch((err) => {
      throw new Error(`${String(err)}\n${this.logsOf(service, replica).slice(-20).join('\n')}`);
    });
  }

  /** Changes the environment of the services spawned from now on (e.g. a new SECRET_KEY before restarts). */
  setEnv(overrides: Record<string, string>): void {
    this.env = { ...this.env, ...overrides };
  }

  /** Stops one replica of a service (the first by default): SIGTERM (graceful) or SIGKILL (crash). */
  async stopService(service: ServiceName, signal: NodeJS.Signals = 'SIGTERM', replica = 0): Promise<number | null> {
    const child = this.children.get(key(service, replica));
    if (!child || child.exitCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    const code = await exited;
    this.children.delete(key(service, replica));
    return code;
  }

  async restartService(service: ServiceName, signal: NodeJS.Signals = 'SIGTERM', replica = 0): Promise<void> {
    await this.stopService(service, signal, replica);
    this.spawn(service, replica);
    await this.waitReady(service, replica);
  }

  /** Calls the config API as the admin. */
  async admin<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(this.url('config', path), {
      method,
      headers: { authorization: `Bearer ${this.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /**
   * Creates a project and a sync (the body of POST /v1/projects/:id/syncs), enables it, and waits
   * until ingest knows the api key and filter and delivery see the sync active.
   */
  async createEnabledSync(projectName: string, sync: Record<string, unknown>): Promise<{ apiKey: string; projectId: string; syncId: string }> {
    const project = await this.admin<{ id: string; apiKey: string }>('POST', '/v1/projects', { name: projectName });
    if (project.status !== 201) throw new Error(`creating the project failed: ${project.status} ${JSON.stringify(project.body)}`);
    const created = await this.admin<{ id: string }>('POST', `/v1/projects/${project.body.id}/syncs`, sync);
    if (created.status !== 201) throw new Error(`creating the sync failed: ${created.status} ${JSON.stringify(created.body)}`);
    const enabled = await this.admin('PATCH', `/v1/syncs/${created.body.id}`, { enabled: true });
    if (enabled.status !== 200) throw new Error(`enabling the sync failed: ${enabled.status} ${JSON.stringify(enabled.body)}`);
    for (let r = 0; r < this.replicasOf('ingest'); r++) {
      await waitFor(async () => (await this.metric('ingest', 'inkstream_config_projects', {}, r)) >= 1, 'ingest to learn the api key');
    }
    for (const service of ['filter', 'delivery'] as const) {
      for (let r = 0; r < this.replicasOf(service); r++) {
        await waitFor(async () => (await this.metric(service, 'inkstream_config_syncs', { active: 'true' }, r)) >= 1, `${service} to see the sync`);
      }
    }
    return { apiKey: project.body.apiKey, projectId: project.body.id, syncId: created.body.id };
  }

  /** The value of a Prometheus sample on a service's /metrics (sum over matching series). */
  async metric(service: ServiceName, name: string, labels: Record<string, string> = {}, replica = 0): Promise<number> {
    const text = await (await fetch(this.url(service, '/metrics', replica))).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
      if (!m || m[1] !== name) continue;
      const labelText = m[2] ?? '';
      if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(m[3]);
    }
    return sum;
  }

  async stop(): Promise<void> {
    await Promise.all(SERVICES.flatMap((s) => Array.from({ length: this.replicasOf(s) }, (_, r) => this.stopService(s, 'SIGTERM', r))));
    await this.cleanup();
  }

  private async cleanup(): Promise<void> {
    const nc = await connect({ servers: this.natsUrl.split(',').map((u) => u.trim()), timeout: 5_000 }).catch(() => undefined);
    // A private server the test already stopped took the streams with it.
    if (nc) {
      try {
        const jsm = await jetstreamManager(nc);
        const upper = this.namespace.toUpperCase();
        for await (const name of jsm.streams.names()) {
          // A stream a test left without its servers cannot be deleted; the test's NATS goes anyway.
          if (name.startsWith(`${upper}_`) || name.startsWith(`KV_${this.namespace}-`)) await jsm.streams.delete(name).catch(() => undefined);
        }
      } finally {
        await nc.close();
      }
    }
    if (this.database) {
      const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`);
      await admin.end();
    }
  }
}
