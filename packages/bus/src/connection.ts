import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';

export interface BusLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface Bus {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  kvm: Kvm;
  /** True while the connection is up (between disconnect and reconnect it is false). */
  isConnected(): boolean;
  /** Flushes pending writes and closes; in-flight subscriptions are drained first. */
  close(): Promise<void>;
}

export class BusUnavailableError extends Error {
  constructor(url: string, cause: unknown) {
    super(
      `cannot reach NATS at ${url}: ${(cause as Error)?.message ?? cause}. ` +
        'Start a nats-server with JetStream enabled (for example `nats-server -js`) or set NATS_URL.',
    );
    this.name = 'BusUnavailableError';
  }
}

export interface ConnectBusOptions {
  url: string;
  /** Connection name shown by the server (`inkstream-ingest`, …). */
  name: string;
  logger: BusLogger;
  /** Give up connecting after this long at start-up. Default 10 s. */
  connectTimeoutMs?: number;
}

export async function connectBus(options: ConnectBusOptions): Promise<Bus> {
  const { url, name, logger } = options;
  let nc: NatsConnection;
  const deadline = Date.now() + (options.connectTimeoutMs ?? 10_000);
  for (;;) {
    try {
      nc = await connect({
        servers: url.split(',').map((s) => s.trim()),
        name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        // Publishing without async stack traces is several times faster (spec/operations.md).
        noAsyncTraces: true,
        timeout: 2_000,
      });
      break;
    } catch (err) {
      if (Date.now() >= deadline) throw new BusUnavailableError(url, err);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  let connected = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        connected = false;
        logger.warn({ nats: s.type }, 'NATS disconnected');
      } else if (s.type === 'reconnect') {
        connected = true;
        logger.info({ nats: s.type }, 'NATS reconnected');
      } else if (s.type === 'error') {
        logger.error({ nats: s.type, err: String((s as { error?: unknown }).error ?? '') }, 'NATS error');
      }
    }
  })();
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const kvm = new Kvm(nc);
  return {
    nc,
    js,
    jsm,
    kvm,
    isConnected: () => connected && !nc.isClosed(),
    async close() {
      if (nc.isClosed()) return;
      await nc.drain().catch(() => nc.close());
    },
  };
}
