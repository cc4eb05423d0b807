import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { PrivateNats } from './private-nats.js';
import { freePort } from './stack.js';
import { waitFor } from './wait.js';

/**
 * A JetStream cluster of nats-servers on loopback ports (each with its own client port, route
 * port and store directory), started and stopped by a test. Any node can be SIGKILLed and
 * started again with its store; the others keep the cluster going.
 */
export class NatsCluster {
  readonly name = `inkstream-test-${randomBytes(3).toString('hex')}`;
  readonly nodes: PrivateNats[];
  private readonly routePorts: number[] = [];
  readonly logs: string[] = [];

  constructor(readonly size = 3) {
    this.nodes = Array.from(
      { length: size },
      (_, i) =>
        new PrivateNats({
          name: `n${i + 1}`,
          args: () => [
            '--cluster_name', this.name,
            '--cluster', `nats://127.0.0.1:${this.routePorts[i]}`,
            '--routes', this.routePorts.map((p) => `nats://127.0.0.1:${p}`).join(','),
          ],
          onLog: (line) => {
            if (/\[(ERR|WRN|FTL)\]/.test(line)) this.logs.push(`n${i + 1} ${line}`);
          },
        }),
    );
  }

  /** Every node's client URL, comma separated (the form NATS_URL takes). */
  get url(): string {
    return this.nodes.map((n) => n.url).join(',');
  }

  async start(): Promise<void> {
    for (const node of this.nodes) await node.reservePort();
    for (let i = 0; i < this.size; i++) this.routePorts[i] ||= await freePort();
    await Promise.all(this.nodes.map((n) => n.start()));
    await this.waitJetStreamReady();
  }

  /** Until JetStream answers through every running node (the meta leader is elected). */
  async waitJetStreamReady(timeoutMs = 60_000): Promise<void> {
    for (const node of this.nodes.filter((n) => n.running)) {
      await waitFor(
        async () => {
          const nc = await connect({ servers: node.url, timeout: 2_000 });
          try {
            const jsm = await jetstreamManager(nc, { timeout: 2_000 });
            await jsm.getAccountInfo();
            return true;
          } finally {
            await nc.close();
          }
        },
        `JetStream of cluster node ${node.name} to answer`,
        timeoutMs,
        300,
      );
    }
  }

  /** The node index that leads a stream now (from stream info). */
  async leaderOf(stream: string): Promise<number> {
    return this.withConnection(async (nc) => {
      const jsm = await jetstreamManager(nc);
      const leader = (await jsm.streams.info(stream)).cluster?.leader;
      const index = this.nodes.findIndex((n) => n.name === leader);
      if (index < 0) throw new Error(`stream ${stream} has no leader now (${leader ?? 'none'})`);
      return index;
    });
  }

  async kill(index: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.nodes[index]!.kill(signal);
  }

  /** Starts a stopped node again with its port and store. */
  async restart(index: number): Promise<void> {
    await this.nodes[index]!.start();
  }

  /** A connection to the running nodes, for the test's own reads. */
  async withConnection<T>(use: (nc: NatsConnection) => Promise<T>): Promise<T> {
    const servers = this.nodes.filter((n) => n.running).map((n) => n.url);
    const nc = await connect({ servers, timeout: 5_000 });
    try {
      return await use(nc);
    } finally {
      await nc.close();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}
