/**
 * Test support (not part of the build): an ingest app against the real JetStream at NATS_URL,
 * in a namespace of its own, with a ConfigView standing in for the config service.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { ConfigView, carrierFrom, connectBus, createTopology, declareStreams, decodeJson, type Bus, type Topology } from '@inkstream/bus';
import { recordsOfIngestMessage, type IngestMessage, type IngestedRecord } from '@inkstream/contracts';
import { createLogger, createMetricsRegistry, type Logger, type Server } from '@inkstream/service-kit';
import { hashApiKey } from '../accept-events.js';
import { buildIngestApp, type IngestAppDeps } from '../app.js';
import { EventPublisher } from '../event-publisher.js';
import { createIngestMetrics } from '../metrics.js';
import { createPushBack, DEFAULT_PUSH_BACK_SETTINGS } from '../push-back.js';

export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
/** The production defaults (environment.ts). */
export const MAX_BODY_BYTES = 1_000_000;
export const MAX_BATCH_BODY_BYTES = 20_000_000;

/** One record as stored, with the subject and headers of the message (segment) that holds it. */
export interface StoredMessage {
  subject: string;
  headers: Record<string, string>;
  record: IngestedRecord;
  /** Stream sequence of the message. */
  seq: number;
}

/** One message of the ingest stream as stored (a v2 segment, or a v1 record). */
export interface StoredSegment {
  seq: number;
  subject: string;
  headers: Record<string, string>;
  message: IngestMessage;
  /** The message's bytes as stored. */
  data: Uint8Array;
}

export interface IngestHarness {
  bus: Bus;
  topology: Topology;
  /** The key of project `p1`. */
  apiKey: string;
  config: ConfigView;
  maxPayload: number;
  /** A new app over this harness' streams; closed by `close()`. */
  buildApp(overrides?: Partial<IngestAppDeps>): Server;
  /** Listens on a free port of 127.0.0.1; answers the URL of a path on it. */
  serve(app: Server): Promise<(path: string) => string>;
  /** An app whose publisher targets streams that do not exist: every publish fails. */
  buildUnavailableApp(overrides?: Partial<IngestAppDeps>): Server;
  /** Every record stored in the ingest stream so far, in stream order. */
  stored(): Promise<IngestedRecord[]>;
  /** The same, with the subject and headers of the message that holds each. */
  storedMessages(): Promise<StoredMessage[]>;
  /** The messages themselves, in stream order. */
  storedSegments(): Promise<StoredSegment[]>;
  close(): Promise<void>;
}

export async function startIngestHarness(
  name: string,
  logger: Logger = createLogger('ingest-test', 'silent'),
  natsUrl: string = NATS_URL,
): Promise<IngestHarness> {
  const topology = createTopology({ namespace: `t_${name}_${randomBytes(4).toString('hex')}` });
  const bus = await connectBus({ url: natsUrl, name: `ingest-test-${name}`, logger });
  await declareStreams(bus.jsm, topology);
  const apiKey = randomBytes(16).toString('hex');
  const config = new ConfigView(logger);
  config.apply({ kind: 'project', id: 'p1', name: 'p', apiKeyHash: hashApiKey(apiKey), version: 1, deleted: false, updatedAt: '' });
  const maxPayload = bus.nc.info?.max_payload ?? 1_048_576;
  const apps: Server[] = [];

  async function storedSegments(): Promise<StoredSegment[]> {
    const stream = await bus.jsm.streams.get(topology.streams.ingest.name);
    const { state } = await stream.info();
    const out: StoredSegment[] = [];
    if (state.messages === 0) return out;
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
      const message = await stream.getMessage({ seq }).catch(() => null);
      if (message) out.push({ seq, subject: message.subject, headers: carrierFrom(message.header), message: decodeJson<IngestMessage>(message.data), data: message.data });
    }
    return out;
  }

  async function storedMessages(): Promise<StoredMessage[]> {
    return (await storedSegments()).flatMap(({ seq, subject, headers, message }) =>
      recordsOfIngestMessage(message).map((record) => ({ seq, subject, headers, record })),
    );
  }

  const buildApp = (overrides: Partial<IngestAppDeps> = {}, target: Topology = topology): Server => {
    const metrics = createMetricsRegistry('ingest');
    const app = buildIngestApp({
      logger,
      metrics,
      ingestMetrics: createIngestMetrics(metrics),
      config,
      publisher: new EventPublisher(bus.nc, target, maxPayload),
      readiness: { nats: () => bus.isConnected() },
      maxBodyBytes: MAX_BODY_BYTES,
      maxBatchBodyBytes: MAX_BATCH_BODY_BYTES,
      // The production defaults, without a backlog reader (tests that need one pass their own).
      pushBack: createPushBack(DEFAULT_PUSH_BACK_SETTINGS, () => bus.isConnected(), () => undefined),
      ...overrides,
    });
    apps.push(app);
    return app;
  };

  return {
    bus,
    topology,
    apiKey,
    config,
    maxPayload,
    buildApp: (overrides) => buildApp(overrides),
    async serve(app) {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as AddressInfo;
      return (path: string) => `http://127.0.0.1:${port}${path}`;
    },
    buildUnavailableApp: (overrides) => buildApp(overrides, createTopology({ namespace: `t_absent_${randomBytes(4).toString('hex')}` })),
    stored: async () => (await storedMessages()).map((m) => m.record),
    storedMessages,
    storedSegments,
    async close() {
      for (const app of apps) await app.close().catch(() => undefined);
      for (const stream of Object.values(topology.streams)) await bus.jsm.streams.delete(stream.name).catch(() => undefined);
      await bus.close();
    },
  };
}

/** The same event as it travels through JSON (drops undefined fields). */
export const asSent = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
