import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { NatsCluster, PrivateNats, TELEMETRY_REGISTER, freePort, waitFor } from '@inkstream/testing';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PORT_VARS = { filter: 'FILTER_PORT', ingest: 'INGEST_PORT', delivery: 'DELIVERY_PORT', config: 'CONFIG_PORT' } as const;
type Service = keyof typeof PORT_VARS;

/** One service as a real process (as the Stack launches it), with its logs and exit code. */
class ServiceProcess {
  readonly logs: string[] = [];
  private child: ChildProcess | undefined;
  exitCode: number | null = null;
  readonly exited: Promise<number | null>;
  private markExited!: (code: number | null) => void;

  constructor(
    readonly service: Service,
    readonly port: number,
    env: Record<string, string>,
  ) {
    this.exited = new Promise((resolve) => (this.markExited = resolve));
    const child = spawn(process.execPath, ['--enable-source-maps', '--import', TELEMETRY_REGISTER, join(root, 'services', service, 'dist', 'index.js')], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        NATS_NAMESPACE: `t_start_${randomBytes(4).toString('hex')}`,
        SECRET_KEY: randomBytes(32).toString('hex'),
        ADMIN_TOKEN: randomBytes(18).toString('base64url'),
        [PORT_VARS[service]]: String(port),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.logs.push(line);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.once('exit', (code) => {
      this.exitCode = code;
      this.markExited(code);
    });
    this.child = child;
  }

  async ready(): Promise<void> {
    await waitFor(
      async () => {
        if (this.exitCode !== null) throw new Error(`${this.service} exited with ${this.exitCode}:\n${this.logs.slice(-20).join('\n')}`);
        return (await fetch(`http://127.0.0.1:${this.port}/readyz`)).ok;
      },
      `${this.service} to be ready`,
      150_000,
      250,
    ).catch((err) => {
      throw new Error(`${String(err)}\n${this.logs.slice(-20).join('\n')}`);
    });
  }

  /** Waits for the process to end by itself (no timing assertion: a generous upper bound). */
  async exit(withinMs: number): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), withinMs)));
    const code = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (code === 'late') throw new Error(`${this.service} still runs after ${withinMs} ms:\n${this.logs.slice(-20).join('\n')}`);
    return code;
  }

  async stop(): Promise<void> {
    if (this.child && this.exitCode === null) {
      this.child.kill('SIGTERM');
      await this.exited;
    }
  }
}

/**
 * Start-up against a NATS that is not there yet (packages/bus/src/startup-retry.ts): services
 * wait for it up to STARTUP_TIMEOUT_SECONDS, then exit naming what did not answer; a wrong
 * setting still stops them at once. Every server here is the test's own.
 */
describe('services ride out a NATS that is not up yet at start-up', () => {
  const processes: ServiceProcess[] = [];
  const servers: PrivateNats[] = [];
  const clusters: NatsCluster[] = [];
  const directories: string[] = [];
  const start = async (service: Service, env: Record<string, string>) => {
    const p = new ServiceProcess(service, await freePort(), env);
    processes.push(p);
    return p;
  };

  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
    await Promise.all(servers.splice(0).map((s) => s.stop()));
    for (const c of clusters.splice(0)) await c.stop();
    for (const d of directories.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it.each<Service>(['filter', 'ingest', 'delivery', 'config'])('%s started before its nats-server comes up once the server is there', async (service) => {
    const nats = new PrivateNats();
    servers.push(nats);
    await nats.reservePort();
    // config: an embedded PGlite of its own in a directory that goes with the test.
    const pglite = service === 'config' ? mkdtempSync(join(tmpdir(), 'inkstream-startup-')) : undefined;
    if (pglite) directories.push(pglite);
    const proc = await start(service, { NATS_URL: nats.url, STARTUP_TIMEOUT_SECONDS: '120', ...(pglite ? { PGLITE_DIR: pglite } : {}) });
    // The service is trying by now (it logs each retry); then the server starts.
    await waitFor(() => proc.logs.some((l) => l.includes('waiting for the NATS server at')), `${service} to wait for NATS`, 60_000, 100);
    expect(proc.exitCode).toBeNull();
    await nats.start();
    await proc.ready();
    const warning = proc.logs.find((l) => l.includes('waiting for the NATS server at'))!;
    expect(JSON.parse(warning)).toMatchObject({ level: 'warn', waitingFor: `the NATS server at ${nats.url}` });
  });

  it('the filter on a fresh 3-node cluster that starts after it (NATS_REPLICAS=3) comes up', async () => {
    const cluster = new NatsCluster(3);
    clusters.push(cluster);
    for (const node of cluster.nodes) await node.reservePort();
    const proc = await start('filter', { NATS_URL: cluster.url, NATS_REPLICAS: '3', STARTUP_TIMEOUT_SECONDS: '150' });
    await waitFor(() => proc.logs.some((l) => l.includes('waiting for the NATS server at')), 'the filter to wait for NATS', 60_000, 100);
    // The filter meets the cluster while it forms (no meta leader yet) and waits it out.
    await cluster.start();
    await proc.ready();
  });

  it('with STARTUP_TIMEOUT_SECONDS=3 and no server, exits non-zero naming what did not answer', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const proc = await start('filter', { NATS_URL: url, STARTUP_TIMEOUT_SECONDS: '3' });
    expect(await proc.exit(90_000)).not.toBe(0);
    const fatal = proc.logs.map((l) => JSON.parse(l) as { level: string; msg: string }).find((l) => l.level === 'fatal');
    expect(fatal?.msg).toMatch(new RegExp(`cannot reach NATS at ${url.replace(/[.]/g, '\\.')} \\(waited 3 s, STARTUP_TIMEOUT_SECONDS\\)`));
  });

  it('a permanent error (replicas a single server cannot keep) fails at once, not at the timeout', async () => {
    const nats = new PrivateNats();
    servers.push(nats);
    await nats.start();
    // A timeout the test would never wait for: exiting at all shows the error was not retried.
    const proc = await start('filter', { NATS_URL: nats.url, NATS_REPLICAS: '3', STARTUP_TIMEOUT_SECONDS: '3600' });
    expect(await proc.exit(120_000)).not.toBe(0);
    const fatal = proc.logs.map((l) => JSON.parse(l) as { level: string; msg: string }).find((l) => l.level === 'fatal');
    expect(fatal?.msg).toMatch(/NATS_REPLICAS is 3, but the NATS server .* is not part of a cluster/);
  });

  it('a bad STARTUP_TIMEOUT_SECONDS is a clear start-up error', async () => {
    const proc = await start('filter', { NATS_URL: 'nats://127.0.0.1:1', STARTUP_TIMEOUT_SECONDS: 'soon' });
    expect(await proc.exit(60_000)).toBe(1);
    expect(proc.logs.join('\n')).toMatch(/filter: cannot start, invalid environment:\n\s+- STARTUP_TIMEOUT_SECONDS: Expected integer \("soon"\)/);
  });
});
