import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, MovableInkStandIn, Stack, waitFor } from '@inkstream/testing';
import { sendUntilAccepted } from './support/send-until-accepted.js';

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';


/**
 * A nats-server of the test's own (its own port and store directory), so it can be crashed and
 * restarted without touching the machine's shared one.
 */
class PrivateNats {
  private child: ChildProcess | undefined;
  readonly storeDir = mkdtempSync(join(tmpdir(), 'inkstream-nats-'));
  port = 0;

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.port ||= await freePort();
    this.child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir], { stdio: 'ignore' });
    await waitFor(() => natsAnswers(this.port), 'the private nats-server to answer', 30_000, 200);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
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
function natsAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('data', (chunk) => {
      socket.destroy();
      resolve(chunk.toString().startsWith('INFO'));
    });
    socket.once('error', () => resolve(false));
  });
}

/** Reliability target: nats-server restarted during a stream — every event answered 200 is delivered. */
describe('nats-server crash and restart during a stream', () => {
  const nats = new PrivateNats();
  let stack: Stack;
  const standIn = new MovableInkStandIn();
  let apiKey: string;
  const EVENTS = 200;

  beforeAll(async () => {
    await nats.start();
    stack = new Stack({ env: { NATS_URL: nats.url, DELIVERY_RETRY_BASE_MS: '300', DELIVERY_RETRY_MAX_MS: '2000', LOG_LEVEL: 'warn' } });
    const endpoint = await standIn.start();
    await stack.start();
    ({ apiKey } = await stack.createEnabledSync('Restart', {
      name: 'mi',
      endpointUrl: `${endpoint}/behavioral/restart`,
      authorization: 'Basic cmVzdGFydDp0ZXN0',
      eventFilters: [{ eventType: '*' }],
      eventProperties: ['seq'],
    }));
  });

  afterAll(async () => {
    await stack?.stop();
    await standIn.stop();
    await nats.stop();
  });

  it('delivers every accepted event after NATS comes back', async () => {
    const events = Array.from({ length: EVENTS }, (_, i) => ({
      user_id: `restart-user-${i % 8}`,
      event_type: 'Step',
      insert_id: `restart-${i}`,
      time: Date.now(),
      event_properties: { seq: i },
    }));
    for (let i = 0; i < 100; i += 20) await sendUntilAccepted(stack.url('ingest', '/batch'), apiKey, events.slice(i, i + 20));
    await waitFor(() => standIn.payloads().length >= 20, 'the stream to flow', 120_000);

    await nats.kill('SIGKILL');
    // While NATS is down ingest cannot store anything: it answers 503 and clients retry.
    const refused = await fetch(stack.url('ingest', '/batch'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api_key: apiKey, events: events.slice(100, 101) }),
    });
    expect(refused.status).toBe(503);
    await nats.start();

    for (let i = 100; i < EVENTS; i += 20) await sendUntilAccepted(stack.url('ingest', '/batch'), apiKey, events.slice(i, i + 20));
    await waitFor(() => new Set(standIn.payloads().map((p) => p.message_id)).size >= EVENTS, `all ${EVENTS} delivered`, 240_000);
    expect(new Set(standIn.payloads().map((p) => p.message_id)).size).toBe(EVENTS);
  });
});
