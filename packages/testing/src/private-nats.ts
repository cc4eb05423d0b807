import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './stack.js';
import { waitFor } from './wait.js';

/** The nats-server binary the tests start (Debian's 2.9 on the project's machines). */
export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

export interface PrivateNatsOptions {
  /** Server name (`-n`); nats-server picks one when unset. */
  name?: string;
  /** More command-line arguments (cluster settings, say). */
  args?: () => string[];
  /** Where the log goes; unset: discarded. */
  onLog?: (line: string) => void;
}

/**
 * A nats-server of the test's own (its own port and store directory, JetStream on), so it can
 * be crashed and restarted without touching the machine's shared one. A restart keeps the port
 * and the store.
 */
export class PrivateNats {
  private child: ChildProcess | undefined;
  readonly storeDir = mkdtempSync(join(tmpdir(), 'inkstream-nats-'));
  port = 0;

  constructor(private readonly options: PrivateNatsOptions = {}) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get name(): string | undefined {
    return this.options.name;
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Picks the port (first start only); the cluster needs it before any server starts. */
  async reservePort(): Promise<number> {
    this.port ||= await freePort();
    return this.port;
  }

  async start(): Promise<void> {
    await this.reservePort();
    const args = ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir];
    if (this.options.name) args.push('-n', this.options.name);
    args.push(...(this.options.args?.() ?? []));
    const log = this.options.onLog;
    this.child = spawn(NATS_SERVER_BIN, args, { stdio: ['ignore', log ? 'pipe' : 'ignore', log ? 'pipe' : 'ignore'] });
    if (log) {
      const keep = (chunk: Buffer) => {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) log(line);
      };
      this.child.stdout!.on('data', keep);
      this.child.stderr!.on('data', keep);
    }
    const child = this.child;
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}`);
        return natsAnswers(this.port);
      },
      'the private nats-server to answer',
      30_000,
      200,
    );
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill('SIGTERM');
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

/** True when a NATS server greets on the port. */
export function natsAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('data', (chunk) => {
      socket.destroy();
      resolve(chunk.toString().startsWith('INFO'));
    });
    socket.once('error', () => resolve(false));
  });
}
