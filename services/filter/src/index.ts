import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  ConsumerLag,
  LeanPublisher,
  StartupRetry,
  connectBus,
  stopSharedOutcomeSender,
  createTopology,
  declareStreams,
  openBucket,
  openConfigView,
} from '@inkstream/bus';
import {
  Gauge,
  Lifecycle,
  registerConfigGauges,
  registerConsumerLagGauge,
  createLogger,
  createMetricsRegistry,
  createServer,
} from '@inkstream/service-kit';
import { profileLimitProblem } from './bus-limits.js';
import { loadFilterEnvironment } from './environment.js';
import { FilterWorker } from './filter-worker.js';
import { createFilterMetrics } from './metrics.js';
import { ProfileStore } from './profile-store.js';
import { openLeanProfileReader } from './profile-reader.js';
import { openLeanProfileWriter } from './profile-writer.js';

const env = loadFilterEnvironment();
const logger = createLogger('filter', env.LOG_LEVEL);
const metrics = createMetricsRegistry('filter');
const lifecycle = new Lifecycle(logger, env.SHUTDOWN_TIMEOUT_MS);
lifecycle.installSignalHandlers();

try {
  const topology = createTopology({ namespace: env.NATS_NAMESPACE, service: 'filter', replicas: env.NATS_REPLICAS });
  // NATS not up yet or JetStream still electing its leader: waited for, up to STARTUP_TIMEOUT_SECONDS.
  const startup = new StartupRetry({ timeoutMs: env.STARTUP_TIMEOUT_SECONDS * 1000, logger });
  const bus = await connectBus({ url: env.NATS_URL, name: 'inkstream-filter', logger, startup });
  lifecycle.onShutdown('nats', () => bus.close());
  await declareStreams(bus.jsm, topology, { logger, startup });
  // A profile is one KV value: the bound must fit in one message of this server.
  const tooLarge = profileLimitProblem(env.FILTER_PROFILE_MAX_BYTES, bus.nc.info?.max_payload);
  if (tooLarge) throw new Error(tooLarge);

  const config = await openConfigView(bus.kvm, topology, logger, startup);
  lifecycle.onShutdown('config view', () => config.stop());
  registerConfigGauges(metrics, () => config.counts());

  const profilesKv = await openBucket(bus.kvm, topology.buckets.profiles, { logger, startup });
  const leases = await openBucket(bus.kvm, topology.buckets.filterLeases, { logger, startup });
  const filterMetrics = createFilterMetrics(metrics);
  // Profile puts are plain publishes to the bucket's subjects (throws for a bucket it cannot write so).
  const profileWriter = await startup.run('JetStream (the profiles bucket\'s stream)', () => openLeanProfileWriter(profilesKv, new LeanPublisher(bus.nc)));
  // Profile reads are direct gets with a shared reply inbox (the KV client's reads where the stream allows no direct get).
  const profileReader = await startup.run('JetStream (the profiles bucket\'s stream)', () => openLeanProfileReader(profilesKv, bus.nc));
  const profiles = new ProfileStore(profilesKv, {
    writer: profileWriter,
    reader: profileReader,
    maxEntries: env.FILTER_PROFILE_CACHE_SIZE,
    maxBytes: env.FILTER_PROFILE_CACHE_BYTES,
    maxPendingBytes: env.FILTER_PROFILE_PENDING_BYTES,
    onUnreadable: (key, err) => {
      filterMetrics.profilesUnreadable.inc();
      logger.error({ key, err: String(err) }, 'stored profile is not JSON: started afresh');
    },
  });
  const worker = new FilterWorker({
    bus,
    topology,
    config,
    profiles,
    metrics: filterMetrics,
    logger,
    maxInFlight: env.FILTER_MAX_IN_FLIGHT,
    maxWorkingBytes: env.FILTER_MAX_WORKING_BYTES,
    maxProcessedPerPartition: env.FILTER_PROCESSED_PER_PARTITION,
    maxProfileBytes: env.FILTER_PROFILE_MAX_BYTES,
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
  new Gauge({
    name: 'inkstream_filter_in_flight',
    help: 'Ingest messages (segments) this replica holds now (handed out, not yet acked); at most FILTER_MAX_IN_FLIGHT per partition',
    registers: [metrics],
    collect() {
      this.set(worker.inFlight);
    },
  });
  new Gauge({
    name: 'inkstream_filter_working_bytes',
    help: 'Bytes of the ingest messages this replica is working now (parsed, routed, publishing); about FILTER_MAX_WORKING_BYTES at most',
    registers: [metrics],
    collect() {
      this.set(worker.work.bytes);
    },
  });
  new Gauge({
    name: 'inkstream_filter_waiting_messages',
    help: 'Ingest messages this replica holds and has not started working yet (waiting for FILTER_MAX_WORKING_BYTES room)',
    registers: [metrics],
    collect() {
      this.set(worker.work.queued);
    },
  });
  new Gauge({
    name: 'inkstream_filter_profile_cache_bytes',
    help: 'Bytes of user profiles cached (their JSON size); at most FILTER_PROFILE_CACHE_BYTES',
    registers: [metrics],
    collect() {
      this.set(profiles.cache.bytes);
    },
  });
  new Gauge({
    name: 'inkstream_filter_profile_pending_bytes',
    help: 'Bytes of user profiles staged and not yet stored in KV (their JSON size); at most about FILTER_PROFILE_PENDING_BYTES',
    registers: [metrics],
    collect() {
      this.set(profiles.pendingBytes);
    },
  });
  const lag = new ConsumerLag(bus.jsm, () => worker.consumers);
  registerConsumerLagGauge(metrics, () => lag.read());
  const app = createServer({ service: 'filter', logger, metrics, readiness: { nats: () => bus.isConnected() } });
  // Reads the ingest stream's settings and declares the partition consumers (its lease manager
  // never throws): a JetStream timeout there is waited out like the steps above.
  await startup.run('JetStream (the filter\'s partition consumers)', () => worker.start());
  // After the consumers stopped (steps run in reverse): the last discard outcomes are sent.
  lifecycle.onShutdown('outcomes', () => stopSharedOutcomeSender(bus));
  lifecycle.onShutdown('consumers', () => worker.stop());
  lifecycle.onShutdown('http server', () => app.close());
  await app.listen({ port: env.FILTER_PORT, host: env.HOST });
} catch (err) {
  logger.fatal({ err }, `filter failed to start: ${(err as Error)?.message ?? String(err)}`);
  await lifecycle.shutdown();
  process.exit(1);
}
