/**
 * Test support: a nats-server of the test's own (own port and store directory), so it can be
 * paused (SIGSTOP: JetStream stops answering, the TCP connection stays up) without touching
 * the machine's shared server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

export class PrivateNats {
  private child: ChildProcess | undefined;
  private readonly storeDir = mkdtempSync(join(tmpdir(), 'inkstream-ingest-nats-'));
  private port = 0;

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /**
   * Starts on a free port. The server is recognised by its name in its INFO greeting: another
   * test's server may grab the same free port first, and must never be mistaken for this one.
   */
  async start(): Promise<void> {
    const name = `ingest-test-${randomBytes(6).toString('hex')}`;
    for (let attempt = 0; ; attempt++) {
      this.port = await freePort();
      const child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(this.port), '-n', name, '-js', '-sd', this.storeDir], { stdio: 'ignore' });
      this.child = child;
      const deadline = Date.now() + 30_000;
      while (child.exitCode === null && !(await greets(this.port, name))) {
        if (Date.now() > deadline) throw new Error('the private nats-server did not start');
        await new Promise((r) => setTimeout(r, 100));
      }
      if (child.exitCode === null) return;
      if (attempt >= 4) throw new Error(`the private nats-server exited (${child.exitCode}) five times`);
    }
  }

  /** Freezes the server: connections stay open, nothing is answered. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      child.kill('SIGCONT');
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** True when the server greeting on the port is the one called `name`. */
function greets(port: number, name: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('data', (chunk) => {
      socket.destroy();
      const greeting = chunk.toString();
      resolve(greeting.startsWith('INFO') && greeting.includes(`"server_name":"${name}"`));
    });
    socket.once('error', () => resolve(false));
  });
}
