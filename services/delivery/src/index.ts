import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ConsumerLag, StartupRetry, connectBus, createTopology, declareStreams, openBucket, openConfigView } from '@inkstream/bus';
import { createSecretBox } from '@inkstream/secret-box';
import {
  Lifecycle,
  registerConfigGauges,
  registerConsumerLagGauge,
  createLogger,
  createMetricsRegistry,
  createServer,
} from '@inkstream/service-kit';
import { AttemptStore } from './attempt-store.js';
import { DeliveryService } from './delivery-service.js';
import { loadDeliveryEnvironment } from './environment.js';
import { HttpSender } from '@inkstream/movable-ink';
import { createDeliveryMetrics, registerSyncGauges } from './metrics.js';
import { OutcomePublisher } from './outcome-publisher.js';

const env = loadDeliveryEnvironment();
const logger = createLogger('delivery', env.LOG_LEVEL);
const metrics = createMetricsRegistry('delivery');
const lifecycle = new Lifecycle(logger, env.SHUTDOWN_TIMEOUT_MS);
lifecycle.installSignalHandlers();

// SECRET_KEY was checked with the rest of the environment.
const secrets = createSecretBox(env.SECRET_KEY, [env.SECRET_KEY_PREVIOUS]);

try {
  const topology = createTopology({ namespace: env.NATS_NAMESPACE, service: 'delivery', replicas: env.NATS_REPLICAS });
  // NATS not up yet or JetStream still electing its leader: waited for, up to STARTUP_TIMEOUT_SECONDS.
  const startup = new StartupRetry({ timeoutMs: env.STARTUP_TIMEOUT_SECONDS * 1000, logger });
  const bus = await connectBus({ url: env.NATS_URL, name: 'inkstream-delivery', logger, startup });
  lifecycle.onShutdown('nats', () => bus.close());
  await declareStreams(bus.jsm, topology, { logger, startup });

  const config = await openConfigView(bus.kvm, topology, logger, startup);
  lifecycle.onShutdown('config view', () => config.stop());

  const { deliveryLeases, deliveryAttempts } = topology.buckets;
  const leases = await openBucket(bus.kvm, deliveryLeases, { logger, startup });
  const attemptsKv = await openBucket(bus.kvm, deliveryAttempts, { logger, startup });

  const sender = new HttpSender({ allowPrivateEndpoints: env.ALLOW_PRIVATE_ENDPOINTS, connectionsPerOrigin: 256 });
  lifecycle.onShutdown('http pools', () => sender.close());
  const outcomes = new OutcomePublisher(bus, topology, logger);
  // Runs after the consumers stopped (steps run in reverse): the last outcomes are sent.
  lifecycle.onShutdown('outcomes', () => outcomes.stop());
  const service = new DeliveryService({
    config,
    deps: {
      bus,
      topology,
      sender,
      secrets,
      metrics: createDeliveryMetrics(metrics),
      logger,
      attempts: new AttemptStore(attemptsKv),
      outcomes,
      backoff: { baseMs: env.DELIVERY_RETRY_BASE_MS, capMs: Math.max(env.DELIVERY_RETRY_BASE_MS, env.DELIVERY_RETRY_MAX_MS) },
    },
    logger,
    leases,
    replicaId: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    leaseTtlMs: deliveryLeases.ttl,
  });
  registerSyncGauges(metrics, () => service.syncs);
  const lag = new ConsumerLag(bus.jsm, () => [...service.syncs].map((sync) => sync.consumer));
  registerConsumerLagGauge(metrics, () => lag.read());
  registerConfigGauges(metrics, () => config.counts());

  const app = createServer({ service: 'delivery', logger, metrics, readiness: { nats: () => bus.isConnected() } });
  await service.start();
  lifecycle.onShutdown('consumers', () => service.stop());
  lifecycle.onShutdown('http server', () => app.close());
  await app.listen({ port: env.DELIVERY_PORT, host: env.HOST });
} catch (err) {
  logger.fatal({ err }, `delivery failed to start: ${(err as Error)?.message ?? String(err)}`);
  await lifecycle.shutdown();
  process.exit(1);
}
