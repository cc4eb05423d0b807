import { ConfigView, connectBus, createTopology, declareStreams, openConfigBucket } from '@inkstream/bus';
import { createSecretBox } from '@inkstream/secret-box';
import { Gauge, Lifecycle, createLogger, createMetricsRegistry, createServer } from '@inkstream/service-kit';
import { DeliveryService } from './delivery-service.js';
import { loadDeliveryEnvironment } from './environment.js';
import { HttpSender } from './http-sender.js';
import { createDeliveryMetrics } from './metrics.js';

const env = loadDeliveryEnvironment();
const logger = createLogger('delivery', env.LOG_LEVEL);
const metrics = createMetricsRegistry('delivery');
const lifecycle = new Lifecycle(logger, env.SHUTDOWN_TIMEOUT_MS);
lifecycle.installSignalHandlers();

let secrets;
try {
  secrets = createSecretBox(env.SECRET_KEY);
} catch (err) {
  process.stderr.write(`delivery: cannot start, invalid environment:\n  - SECRET_KEY: ${(err as Error).message}\n`);
  process.exit(1);
}

try {
  const topology = createTopology({ namespace: env.NATS_NAMESPACE });
  const bus = await connectBus({ url: env.NATS_URL, name: 'inkstream-delivery', logger });
  lifecycle.onShutdown('nats', () => bus.close());
  await declareStreams(bus.jsm, topology);

  const config = new ConfigView(logger);
  await config.start(await openConfigBucket(bus.kvm, topology));
  lifecycle.onShutdown('config view', () => config.stop());

  const sender = new HttpSender({ allowPrivateEndpoints: env.ALLOW_PRIVATE_ENDPOINTS, connectionsPerOrigin: 64 });
  lifecycle.onShutdown('http pools', () => sender.close());
  const service = new DeliveryService(
    config,
    { bus, topology, sender, secrets, metrics: createDeliveryMetrics(metrics), logger },
    logger,
  );
  new Gauge({
    name: 'inkstream_config_syncs',
    help: 'Syncs known from the config snapshots, by whether they deliver now',
    labelNames: ['active'],
    registers: [metrics],
    collect() {
      const { syncs, activeSyncs } = config.counts();
      this.set({ active: 'true' }, activeSyncs);
      this.set({ active: 'false' }, syncs - activeSyncs);
    },
  });

  const app = createServer({ service: 'delivery', logger, metrics, readiness: { nats: () => bus.isConnected() } });
  await service.start();
  lifecycle.onShutdown('consumers', () => service.stop());
  lifecycle.onShutdown('http server', () => app.close());
  await app.listen({ port: env.DELIVERY_PORT, host: env.HOST });
} catch (err) {
  logger.fatal({ err }, 'delivery failed to start');
  await lifecycle.shutdown();
  process.exit(1);
}
