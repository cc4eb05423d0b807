import {
  StartupRetry,
  connectBus,
  createTopology,
  declareStreams,
  openConfigView,
} from '@inkstream/bus';
import { Lifecycle, registerConfigGauges, createLogger, createMetricsRegistry } from '@inkstream/service-kit';
import { buildIngestApp } from './app.js';
import { loadIngestEnvironment } from './environment.js';
import { EventPublisher } from './event-publisher.js';
import { BacklogMonitor } from './backlog-monitor.js';
import { createIngestMetrics, registerPushBackGauges } from './metrics.js';
import { createPushBack, pushBackSettingsFrom } from './push-back.js';

const env = loadIngestEnvironment();
const logger = createLogger('ingest', env.LOG_LEVEL);
const metrics = createMetricsRegistry('ingest');
const lifecycle = new Lifecycle(logger, env.SHUTDOWN_TIMEOUT_MS);
lifecycle.installSignalHandlers();

try {
  const topology = createTopology({ namespace: env.NATS_NAMESPACE, service: 'ingest', replicas: env.NATS_REPLICAS, dedupWindowSeconds: env.INGEST_DEDUP_WINDOW_SECONDS });
  // NATS not up yet or JetStream still electing its leader: waited for, up to STARTUP_TIMEOUT_SECONDS.
  const startup = new StartupRetry({ timeoutMs: env.STARTUP_TIMEOUT_SECONDS * 1000, logger });
  const bus = await connectBus({ url: env.NATS_URL, name: 'inkstream-ingest', logger, startup });
  lifecycle.onShutdown('nats', () => bus.close());
  await declareStreams(bus.jsm, topology, { logger, startup });

  // Api keys are learned from the config snapshots; until they are loaded nothing is answered,
  // because "Invalid API key" would make an SDK drop its events.
  const config = await openConfigView(bus.kvm, topology, logger, startup);
  lifecycle.onShutdown('config view', () => config.stop());
  registerConfigGauges(metrics, () => config.counts());

  // Push-back: the ingest stream's backlog is read in the background, requests only look at it.
  const settings = pushBackSettingsFrom(env);
  const backlog = new BacklogMonitor(bus.jsm, topology, settings.backlogCheckIntervalMs, logger);
  await backlog.start();
  lifecycle.onShutdown('backlog monitor', () => backlog.stop());
  const pushBack = createPushBack(settings, () => bus.isConnected(), () => backlog.snapshot);
  registerPushBackGauges(metrics, pushBack.inFlight, () => backlog.snapshot);

  const app = buildIngestApp({
    logger,
    metrics,
    ingestMetrics: createIngestMetrics(metrics),
    config,
    publisher: new EventPublisher(bus.nc, topology, bus.nc.info?.max_payload ?? 1_048_576, env.INGEST_PUBLISH_TIMEOUT_MS),
    readiness: { nats: () => bus.isConnected() },
    maxBodyBytes: env.INGEST_MAX_BODY_BYTES,
    maxBatchBodyBytes: env.INGEST_MAX_BATCH_BODY_BYTES,
    pushBack,
  });
  lifecycle.onShutdown('http server', () => app.close());
  await app.listen({ port: env.INGEST_PORT, host: env.HOST });
} catch (err) {
  logger.fatal({ err }, `ingest failed to start: ${(err as Error)?.message ?? String(err)}`);
  await lifecycle.shutdown();
  process.exit(1);
}
