import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import { connect, errors } from '@nats-io/transport-node';
import { BusUnavailableError, connectBus } from './connection.js';
import { ReplicasError } from './replicas-check.js';
import { declareStream } from './declare.js';
import { StartupRetry, StartupTimeoutError, classifyStartupError, startupBackoffMs } from './startup-retry.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

const apiError = (err_code: number, code: number, description: string) => new JetStreamApiError({ err_code, code, description });
/** What JetStreamNotEnabled looks like (the client does not export the class). */
const notEnabled = () => Object.assign(new Error('jetstream is not enabled'), { name: 'JetStreamNotEnabled' });

describe('classifyStartupError', () => {
  it.each<[string, unknown, boolean]>([
    ['connection refused', new errors.ConnectionError('connection refused'), true],
    ['request timeout', new errors.TimeoutError(), true],
    ['no responders', new errors.RequestError('no responders', { cause: new errors.NoRespondersError('$JS.API.INFO') }), true],
    ['JetStream not enabled (yet)', notEnabled(), true],
    ['503 temporarily unavailable', apiError(10008, 503, 'JetStream system temporarily unavailable'), true],
    ['cluster not leader', apiError(10009, 500, 'JetStream cluster can not handle request'), true],
    ['cluster not assigned', apiError(10007, 500, 'JetStream cluster not assigned to this server'), true],
    ['incomplete results', apiError(10004, 503, 'incomplete results'), true],
    ['a node.js socket error', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4222'), { code: 'ECONNREFUSED' }), true],
    ['a host name not resolving yet (compose)', Object.assign(new Error('getaddrinfo ENOTFOUND nats'), { code: 'ENOTFOUND' }), true],
    ['authorization violation', new errors.AuthorizationError('Authorization Violation'), false],
    ['expired credentials', new errors.UserAuthenticationExpiredError('user authentication expired'), false],
    ['permission violation', new errors.PermissionViolationError('Permissions Violation', 'publish', '$JS.API.>'), false],
    ['storage type cannot change', apiError(10052, 500, 'stream configuration update can not change storage type'), false],
    ['not clustered', apiError(10074, 500, 'replicas > 1 not supported in non-clustered mode'), false],
    ['subjects overlap', apiError(10065, 400, 'subjects overlap with an existing stream'), false],
    ['deliver policy cannot be updated', apiError(10012, 500, 'deliver policy can not be updated'), false],
    ['stream not found', apiError(10059, 404, 'stream not found'), false],
    ['closed connection (shutting down)', new errors.ClosedConnectionError(), false],
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'x')"), false],
    ['not an Error', 'boom', false],
  ])('%s: transient %s', (_name, err, transient) => {
    expect(classifyStartupError(err).transient).toBe(transient);
  });
});

describe('startupBackoffMs', () => {
  it('grows, is capped, and keeps at least half of its ceiling under jitter', () => {
    expect(startupBackoffMs(0, () => 0)).toBe(100);
    expect(startupBackoffMs(0, () => 1)).toBe(200);
    expect(startupBackoffMs(3, () => 0)).toBe(800);
    expect(startupBackoffMs(30, () => 1)).toBe(5_000);
    expect(startupBackoffMs(30, () => 0)).toBe(2_500);
  });
});

describe('StartupRetry.run', () => {
  const recorder = () => {
    const warnings: Array<{ obj: Record<string, unknown>; msg?: string }> = [];
    return { warnings, logger: { info() {}, error() {}, warn: (obj: object, msg?: string) => warnings.push({ obj: obj as Record<string, unknown>, msg }) } };
  };

  it('retries a transient failure, warning what it waits for, until the step succeeds', async () => {
    const { warnings, logger } = recorder();
    let calls = 0;
    const value = await new StartupRetry({ timeoutMs: 60_000, logger }).run('JetStream (declaring the stream X)', async () => {
      if (++calls < 3) throw new errors.TimeoutError();
      return 'done';
    });
    expect(value).toBe('done');
    expect(calls).toBe(3);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]!.obj).toMatchObject({ waitingFor: 'JetStream (declaring the stream X)', attempt: 1 });
    expect(warnings[0]!.msg).toMatch(/waiting for JetStream \(declaring the stream X\): NATS request timed out; retrying in \d+ ms/);
  });

  it('throws a permanent failure at once', async () => {
    let calls = 0;
    const permanent = apiError(10052, 500, 'stream configuration update can not change storage type');
    await expect(
      new StartupRetry({ timeoutMs: 60_000 }).run('x', async () => {
        calls++;
        throw permanent;
      }),
    ).rejects.toBe(permanent);
    expect(calls).toBe(1);
  });

  it('gives up at the deadline naming what did not answer and the setting', async () => {
    const err = await new StartupRetry({ timeoutMs: 300 })
      .run('the NATS server at nats://nowhere:4222', async () => {
        throw new errors.ConnectionError('connection refused');
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupTimeoutError);
    expect((err as Error).message).toMatch(/the NATS server at nats:\/\/nowhere:4222 did not answer within STARTUP_TIMEOUT_SECONDS/);
    expect((err as Error).message).toMatch(/connection refused/);
  });

  it('bounds a wait that never ends (a watch that does not catch up) by the same deadline', async () => {
    const startup = new StartupRetry({ timeoutMs: 200 });
    const err = await startup.within('the config bucket', new Promise(() => {})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupTimeoutError);
    expect((err as Error).message).toMatch(/the config bucket did not answer within STARTUP_TIMEOUT_SECONDS=0.2/);
    expect(await new StartupRetry({ timeoutMs: 60_000 }).within('x', Promise.resolve(7))).toBe(7);
  });
});

/** A nats-server of this test's own (never the shared one). */
class OwnServer {
  private child: ChildProcess | undefined;
  private readonly storeDir = mkdtempSync(join(tmpdir(), 'inkstream-startup-'));
  constructor(
    readonly port: number,
    private readonly args: string[],
  ) {}
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    this.child = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(this.port), '-sd', this.storeDir, ...this.args], { stdio: 'ignore' });
    for (let i = 0; i < 300 && !(await greets(this.port)); i++) await new Promise((r) => setTimeout(r, 100));
  }
  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host: '127.0.0.1', port });
    socket.once('data', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const quiet = { info() {}, warn() {}, error() {} };

describe('errors the real client raises at start-up', () => {
  const servers: OwnServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  it('no server on the port yet: transient', async () => {
    const err = await connect({ servers: `127.0.0.1:${await freePort()}`, timeout: 1_000 }).catch((e: unknown) => e);
    expect(classifyStartupError(err)).toMatchObject({ transient: true });
  });

  it('a silent JetStream API (a timeout) and a JetStream that is not there (no responders): transient', async () => {
    const nc = await connect({ servers: NATS_URL });
    try {
      const prefix = `startup_${randomBytes(4).toString('hex')}`;
      const silent = nc.subscribe(`${prefix}.silent.>`);
      const timedOut = await jetstreamManager(nc, { apiPrefix: `${prefix}.silent`, timeout: 300 }).catch((e: unknown) => e);
      silent.unsubscribe();
      expect(classifyStartupError(timedOut)).toMatchObject({ transient: true });
      const nobody = await jetstreamManager(nc, { apiPrefix: `${prefix}.nobody`, timeout: 1_000 }).catch((e: unknown) => e);
      expect((nobody as Error).name).toBe('JetStreamNotEnabled');
      expect(classifyStartupError(nobody)).toMatchObject({ transient: true });
    } finally {
      await nc.close();
    }
  });

  it('a stream config JetStream rejects: permanent', async () => {
    const nc = await connect({ servers: NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      const name = `STARTUP_${randomBytes(4).toString('hex').toUpperCase()}`;
      const err = await jsm.streams.add({ name, subjects: [`${name}.x`], duplicate_window: -5 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(JetStreamApiError);
      expect(classifyStartupError(err)).toMatchObject({ transient: false });
    } finally {
      await nc.close();
    }
  });

  it('declaring a stream JetStream refuses (subjects taken by another stream) fails at once, not at the deadline', async () => {
    const nc = await connect({ servers: NATS_URL });
    const jsm = await jetstreamManager(nc);
    const tag = randomBytes(4).toString('hex').toUpperCase();
    try {
      await jsm.streams.add({ name: `STARTUP_A_${tag}`, subjects: [`startup_${tag}.>`] });
      const startup = new StartupRetry({ timeoutMs: 3_600_000 });
      const err = await declareStream(jsm, { name: `STARTUP_B_${tag}`, subjects: [`startup_${tag}.x`] }, { startup }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(JetStreamApiError);
      expect((err as Error).message).toMatch(/subjects overlap/);
      expect(startup.remainingMs()).toBeGreaterThan(3_000_000);
    } finally {
      await jsm.streams.delete(`STARTUP_A_${tag}`).catch(() => undefined);
      await nc.close();
    }
  });

  it('wrong credentials: permanent, and connectBus fails at once rather than at the deadline', async () => {
    const server = new OwnServer(await freePort(), ['--user', 'svc', '--pass', 'right']);
    servers.push(server);
    await server.start();
    const err = await connect({ servers: server.url, user: 'svc', pass: 'wrong' }).catch((e: unknown) => e);
    expect(classifyStartupError(err)).toMatchObject({ transient: false });
    const url = `nats://svc:wrong@127.0.0.1:${server.port}`;
    // A generous deadline: failing fast means well before it (no timing assertion beyond that).
    const started = Date.now();
    await expect(connectBus({ url, name: 'startup-test', logger: quiet, startup: new StartupRetry({ timeoutMs: 120_000 }) })).rejects.toThrow(/Authorization/i);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('a server without JetStream: transient until the deadline, then a clear error', async () => {
    const server = new OwnServer(await freePort(), []);
    servers.push(server);
    await server.start();
    const err = await connectBus({ url: server.url, name: 'startup-test', logger: quiet, startup: new StartupRetry({ timeoutMs: 1_000 }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupTimeoutError);
    expect((err as Error).message).toMatch(/JetStream at nats:\/\/127\.0\.0\.1:\d+ did not answer within STARTUP_TIMEOUT_SECONDS/);
    expect((err as Error).message).toMatch(/not enabled/);
  });
});

describe('connectBus and declaring while the server starts', () => {
  let server: OwnServer | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it('waits for a server that starts late, then declares', async () => {
    server = new OwnServer(await freePort(), ['-js']);
    const warnings: string[] = [];
    const logger = { info() {}, error() {}, warn: (_o: object, msg?: string) => warnings.push(msg ?? '') };
    const startup = new StartupRetry({ timeoutMs: 90_000, logger });
    const late = new Promise((r) => setTimeout(r, 1_500)).then(() => server!.start());
    const bus = await connectBus({ url: server.url, name: 'startup-test', logger, startup });
    try {
      await late;
      expect(warnings.some((w) => /waiting for the NATS server at nats:\/\/127\.0\.0\.1:\d+: NATS server not reachable/.test(w))).toBe(true);
      const result = await declareStream(bus.jsm, { name: 'LATE', subjects: ['late.>'] }, { startup, logger });
      expect(result.created).toBe(true);
      // Replicas the server cannot keep: a clear error at once, not at the deadline.
      await expect(declareStream(bus.jsm, { name: 'LATE3', subjects: ['late3.>'], num_replicas: 3 }, { startup, logger })).rejects.toThrow(ReplicasError);
    } finally {
      await bus.close();
    }
  });

  it('without a server: BusUnavailableError naming the URL and the setting', async () => {
    const port = await freePort();
    const err = await connectBus({ url: `nats://127.0.0.1:${port}`, name: 'x', logger: quiet, startup: new StartupRetry({ timeoutMs: 500 }) }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BusUnavailableError);
    expect((err as Error).message).toMatch(new RegExp(`cannot reach NATS at nats://127.0.0.1:${port} \\(waited 0.5 s, STARTUP_TIMEOUT_SECONDS\\)`));
  });
});
