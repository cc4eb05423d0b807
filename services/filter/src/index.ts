import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ConsumerLag, connectBus, createTopology, declareStreams, openBucket, openConfigView } from '@inkstream/bus';
import {
  Gauge,
  Lifecycle,
  registerConfigGauges,
  registerConsumerLagGauge,
  createLogger,
  createMetricsRegistry,
  createServer,
} from '@inkstream/service-kit';
import { loadFilterEnvironment } from './environment.js';
import { FilterWorker } from './filter-worker.js';
import { createFilterMetrics } from './metrics.js';
import { ProfileStore } from './profile-store.js';

const env = loadFilterEnvironment();
const logger = createLogger('filter', env.LOG_LEVEL);
const metrics = createMetricsRegistry('filter');
const lifecycle = new Lifecycle(logger, env.SHUTDOWN_TIMEOUT_MS);
lifecycle.installSignalHandlers();

try {
  const topology = createTopology({ namespace: env.NATS_NAMESPACE, service: 'filter', replicas: env.NATS_REPLICAS });
  const bus = await connectBus({ url: env.NATS_URL, name: 'inkstream-filter', logger });
  lifecycle.onShutdown('nats', () => bus.close());
  await declareStreams(bus.jsm, topology, { logger });

  const config = await openConfigView(bus.kvm, topology, logger);
  lifecycle.onShutdown('config view', () => config.stop());
  registerConfigGauges(metrics, () => config.counts());

  const profilesKv = await openBucket(bus.kvm, topology.buckets.profiles);
  const leases = await openBucket(bus.kvm, topology.buckets.filterLeases);
  const worker = new FilterWorker({
    bus,
    topology,
    config,
    profiles: new ProfileStore(profilesKv, env.FILTER_PROFILE_CACHE_SIZE),
    metrics: createFilterMetrics(metrics),
    logger,
    maxInFlight: env.FILTER_MAX_IN_FLIGHT,
    leases,
    replicaId: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
  });

  new Gauge({
    name: 'inkstream_filter_partitions_owned',
    help: 'Ingest partitions this filter replica works now',
    registers: [metrics],
    collect() {
      this.set(worker.partitions.length);
    },
  });
  const lag = new ConsumerLag(bus.jsm, () => worker.consumers);
  registerConsumerLagGauge(metrics, () => lag.read());
  const app = createServer({ service: 'filter', logger, metrics, readiness: { nats: () => bus.isConnected() } });
  await worker.start();
  lifecycle.onShutdown('consumers', () => worker.stop());
  lifecycle.onShutdown('http server', () => app.close());
  await app.listen({ port: env.FILTER_PORT, host: env.HOST });
} catch (err) {
  logger.fatal({ err }, 'filter failed to start');
  await lifecycle.shutdown();
  process.exit(1);
}
