import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { framesOf } from './publish-frames.js';
import { coalesceSocketWrites } from './socket-writes.js';
import { StartupRetry, StartupTimeoutError, defaultStartupRetry, secondsText } from './startup-retry.js';

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
    const waited = cause instanceof StartupTimeoutError ? ` (waited ${secondsText(cause.timeoutMs)} s, STARTUP_TIMEOUT_SECONDS)` : '';
    const last = cause instanceof StartupTimeoutError ? cause.lastError : cause;
    super(
      `cannot reach NATS at ${url}${waited}: ${(last as Error)?.message ?? last}. ` +
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
  /** Give up connecting after this long at start-up when no `startup` is given. Default 10 s. */
  connectTimeoutMs?: number;
  /**
   * The service's start-up patience (STARTUP_TIMEOUT_SECONDS): the server not up yet, or its
   * JetStream not answering yet, is retried until its deadline; bad credentials fail at once.
   */
  startup?: StartupRetry;
}

export async function connectBus(options: ConnectBusOptions): Promise<Bus> {
  const { url, name, logger } = options;
  const startup = defaultStartupRetry(options.startup, options.connectTimeoutMs ?? 10_000, logger);
  coalesceSocketWrites();
  const servers = url.split(',').map((s) => s.trim());
  let nc: NatsConnection;
  try {
    nc = await startup.run(`the NATS server at ${url}`, () =>
      connect({
        servers,
        name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        // Publishing without async stack traces is several times faster (spec/operations.md).
        noAsyncTraces: true,
        timeout: 2_000,
      }),
    );
  } catch (err) {
    if (err instanceof StartupTimeoutError) throw new BusUnavailableError(url, err);
    throw err;
  }
  // The connection's outbound buffer (and the frame writer lean publishes use) now: a nats.js
  // whose internals changed fails here, at start.
  try {
    framesOf(nc);
  } catch (err) {
    await nc.close();
    throw err;
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
  // Asks the server for the account's JetStream: a cluster without a meta leader does not answer yet.
  const jsm = await startup
    .run(`JetStream at ${url}`, () => jetstreamManager(nc))
    .catch(async (err: unknown) => {
      await nc.close();
      throw err;
    });
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
