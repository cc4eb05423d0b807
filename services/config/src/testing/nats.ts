import { randomBytes } from 'node:crypto';
import { connectBus, createTopology, declareStreams, openConfigBucket, type Bus, type KV, type Topology } from '@inkstream/bus';
import type { ConfigSnapshot } from '@inkstream/contracts';
import type { Logger } from 'pino';

export const TEST_NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

export interface TestBucket {
  bus: Bus;
  topology: Topology;
  kv: KV;
  /** The snapshot stored under a key, or undefined. */
  read(key: string): Promise<ConfigSnapshot | undefined>;
  /** Destroys the bucket and every stream of the namespace, and closes the connection. */
  dispose(): Promise<void>;
}

export function testNamespace(): string {
  return `cfgtest_${randomBytes(5).toString('hex')}`;
}

/** A config bucket of its own (a random namespace unless given) on the real NATS. */
export async function openTestBucket(logger: Logger, namespace = testNamespace()): Promise<TestBucket> {
  const topology = createTopology({ namespace });
  const bus = await connectBus({ url: TEST_NATS_URL, name: 'inkstream-config-test', logger });
  const kv = await openConfigBucket(bus.kvm, topology);
  return {
    bus,
    topology,
    kv,
    async read(key) {
      const entry = await kv.get(key);
      return entry?.operation === 'PUT' ? entry.json<ConfigSnapshot>() : undefined;
    },
    async dispose() {
      await kv.destroy().catch(() => undefined);
      // A service started in this namespace declared the shared streams and buckets too.
      for (const name of [topology.buckets.profiles.name, topology.buckets.configLeases.name]) {
        const bucket = await bus.kvm.open(name).catch(() => undefined);
        await bucket?.destroy().catch(() => undefined);
      }
      for (const stream of Object.values(topology.streams)) {
        await bus.jsm.streams.delete(stream.name).catch(() => undefined);
      }
      await bus.close();
    },
  };
}

export interface TestNats {
  bus: Bus;
  topology: Topology;
  /** The profiles bucket, as the filter keeps it. */
  profiles: KV;
  /** The config bucket, as the outbox relay writes it. */
  config: KV;
  /** Deletes the namespace's streams, buckets and consumers, and closes the connection. */
  dispose(): Promise<void>;
}

/** The pipeline's streams and the profiles bucket in a namespace of their own on the real NATS. */
export async function openTestNats(logger: Logger, namespace = testNamespace()): Promise<TestNats> {
  const topology = createTopology({ namespace });
  const bus = await connectBus({ url: TEST_NATS_URL, name: 'inkstream-config-test', logger });
  await declareStreams(bus.jsm, topology);
  const profiles = await bus.kvm.create(topology.buckets.profiles.name, { history: topology.buckets.profiles.history });
  const config = await openConfigBucket(bus.kvm, topology);
  return {
    bus,
    topology,
    profiles,
    config,
    async dispose() {
      await profiles.destroy().catch(() => undefined);
      for (const name of [topology.buckets.config.name, topology.buckets.configLeases.name]) {
        const bucket = await bus.kvm.open(name).catch(() => undefined);
        await bucket?.destroy().catch(() => undefined);
      }
      for (const stream of Object.values(topology.streams)) {
        await bus.jsm.streams.delete(stream.name).catch(() => undefined);
      }
      await bus.close();
    },
  };
}
