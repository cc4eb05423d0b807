import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import {
  BusUnavailableError,
  ReplicasError,
  StartupRetry,
  StartupTimeoutError,
  connectBus,
  createTopology,
  declareStreams,
  openBucket,
  openConfigBucket,
} from '@inkstream/bus';
import { HttpSender } from '@inkstream/movable-ink';
import { createSecretBox } from '@inkstream/secret-box';
import { Lifecycle, createLogger, createMetricsRegistry, type Logger } from '@inkstream/service-kit';
import { buildConfigApp } from './app.js';
import { openDatabase } from './db/open.js';
import { createProjectionMetrics } from './delivery-views/metrics.js';
import { LeasedOutcomeProjection } from './delivery-views/projection-lease.js';
import { DeliveryViewsPruner } from './delivery-views/prune.js';
import { loadConfigEnvironment, type ConfigEnvironment } from './environment.js';
import { createKvPublisher } from './outbox/kv-publisher.js';
import { createOutboxMetrics } from './outbox/metrics.js';
import { OutboxRelay } from './outbox/relay.js';
import { reconcileConfigBucket } from './outbox/reconcile.js';
import { SecretKeyMismatchError, checkSecretKeyAtStart } from './secrets/check-at-start.js';
import { createEndpointPolicy } from './syncs/endpoint-policy.js';

export { buildConfigApp, type ConfigAppDeps } from './app.js';

/**
 * The life of the config service: settings → logger and metrics → Postgres or PGlite (migrated)
 * → SECRET_KEY checked against the stored secrets (re-sealed during a rotation) → NATS (streams,
 * config and profiles buckets) → config bucket made equal to the database → outbox relay →
 * projection of the delivery outcomes → HTTP API; on SIGTERM/SIGINT the same in reverse: stop the server, let the
 * projection write what it holds and the relay finish its pass, close NATS, close the database.
 */
async function main(): Promise<void> {
  const env = loadConfigEnvironment();
  const logger = createLogger('config', env.LOG_LEVEL);
  const lifecycle = new Lifecycle(logger, env.SHUTDOWN_TIMEOUT_MS);
  lifecycle.installSignalHandlers();
  try {
    await start(env, logger, lifecycle);
  } catch (err) {
    if (err instanceof BusUnavailableError) logger.fatal({ err: { message: err.message } }, 'cannot start without NATS');
    else if (err instanceof StartupTimeoutError || err instanceof ReplicasError) logger.fatal({ err: { message: err.message } }, `cannot start: ${err.message}`);
    else if (err instanceof SecretKeyMismatchError) logger.fatal(`cannot start: ${err.message}`);
    else logger.fatal({ err }, 'config service failed to start');
    await lifecycle.shutdown();
    process.exit(1);
  }
}

async function start(env: ConfigEnvironment, logger: Logger, lifecycle: Lifecycle): Promise<void> {
  const metrics = createMetricsRegistry('config');
  const database = await openDatabase({ databaseUrl: env.DATABASE_URL, pgliteDir: env.PGLITE_DIR, logger });
  lifecycle.onShutdown('database', () => database.close());
  logger.info({ driver: database.driver }, 'database ready, migrations applied');
  const secretBox = createSecretBox(env.SECRET_KEY, [env.SECRET_KEY_PREVIOUS]);
  await checkSecretKeyAtStart(database.db, secretBox, logger);

  const topology = createTopology({ namespace: env.NATS_NAMESPACE, service: 'config', replicas: env.NATS_REPLICAS });
  // NATS not up yet or JetStream still electing its leader: waited for, up to STARTUP_TIMEOUT_SECONDS.
  const startup = new StartupRetry({ timeoutMs: env.STARTUP_TIMEOUT_SECONDS * 1000, logger });
  const bus = await connectBus({ url: env.NATS_URL, name: 'inkstream-config', logger, startup });
  lifecycle.onShutdown('nats', () => bus.close());
  await declareStreams(bus.jsm, topology, { logger, startup });
  const bucket = await openConfigBucket(bus.kvm, topology, { logger, startup });
  // The filter's bucket, created alike if the filter has not run yet; the preview reads it.
  const profiles = await openBucket(bus.kvm, topology.buckets.profiles, { logger, startup });

  const relay = new OutboxRelay({
    db: database.db,
    publisher: createKvPublisher(bucket, () => bus.isConnected()),
    logger,
    metrics: createOutboxMetrics(metrics),
  });
  // The database is the source of truth: what the bucket holds that the database does not (a
  // fresh or restored database) goes, what it lacks (NATS lost its data) comes back.
  const reconciled = await startup.run('JetStream (making the config bucket equal to the database)', () => reconcileConfigBucket(database.db, bucket));
  if (reconciled.published + reconciled.superseded + reconciled.removed + reconciled.skipped > 0) {
    logger.warn(reconciled, 'config bucket made equal to the database');
  }
  relay.start();
  lifecycle.onShutdown('outbox relay', () => relay.stop());

  const projection = new LeasedOutcomeProjection({
    db: database.db,
    bus,
    topology,
    logger,
    metrics: createProjectionMetrics(metrics),
  });
  // Declares the outcomes consumer and opens its lease bucket before its lease manager (which
  // never throws) starts: a JetStream timeout there is waited out like the steps above.
  await startup.run('JetStream (the outcome projection\'s consumer and lease bucket)', () => projection.start());
  lifecycle.onShutdown('outcome projection', () => projection.stop());
  const pruner = new DeliveryViewsPruner({ db: database.db, logger });
  pruner.start();
  lifecycle.onShutdown('delivery metrics pruning', () => pruner.stop());

  const sender = new HttpSender({ allowPrivateEndpoints: env.ALLOW_PRIVATE_ENDPOINTS, connectionsPerOrigin: 2 });
  lifecycle.onShutdown('test sender', () => sender.close());

  const app = await buildConfigApp({
    logger,
    metrics,
    database,
    secretBox,
    adminToken: env.ADMIN_TOKEN,
    endpointPolicy: createEndpointPolicy({ allowPrivateEndpoints: env.ALLOW_PRIVATE_ENDPOINTS }),
    bus,
    topology,
    profiles,
    configBucket: bucket,
    sender,
    onChange: () => relay.nudge(),
    readiness: { nats: () => bus.isConnected() },
  });
  lifecycle.onShutdown('http server', () => app.close());
  const address = await app.listen({ port: env.CONFIG_PORT, host: env.HOST });
  logger.info({ address, docs: `${address}/docs` }, 'config API listening');
}

/** True when this file is the program (`node dist/index.js`), not a module someone imported. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === import.meta.url;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main().catch((err: unknown) => {
    process.stderr.write(`config: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
}
