import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** One Prometheus registry per service, with Node's process metrics and a `service` label. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'inkstream_' });
  return registry;
}

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface ConfigCounts {
  projects: number;
  syncs: number;
  activeSyncs: number;
}

/**
 * Gauges of the configuration a service has learned from NATS: how many live projects and
 * syncs it knows, and how many of the syncs deliver now. Tests and operators read them to see
 * that a change has reached a service.
 */
export function registerConfigGauges(registry: Registry, counts: () => ConfigCounts): void {
  new Gauge({
    name: 'inkstream_config_projects',
    help: 'Live projects known from the config snapshots',
    registers: [registry],
    collect() {
      this.set(counts().projects);
    },
  });
  new Gauge({
    name: 'inkstream_config_syncs',
    help: 'Syncs known from the config snapshots, by whether they deliver now',
    labelNames: ['active'],
    registers: [registry],
    collect() {
      const { syncs, activeSyncs } = counts();
      this.set({ active: 'true' }, activeSyncs);
      this.set({ active: 'false' }, syncs - activeSyncs);
    },
  });
}

export interface ConsumerLagReading {
  stream: string;
  durable: string;
  pending: number;
  ackPending: number;
}

/**
 * Stream lag, per JetStream consumer this replica works: messages not yet handed out
 * (`num_pending`) plus those handed out and not yet acknowledged (`num_ack_pending`). Read when
 * Prometheus scrapes; `read` is expected to rate-limit its JetStream requests (bus ConsumerLag).
 */
export function registerConsumerLagGauge(registry: Registry, read: () => Promise<readonly ConsumerLagReading[]>): void {
  new Gauge({
    name: 'inkstream_consumer_lag_messages',
    help: 'Messages of a JetStream consumer this replica works that are not acknowledged yet: waiting (num_pending) plus in progress (num_ack_pending)',
    labelNames: ['stream', 'consumer'] as const,
    registers: [registry],
    async collect() {
      const readings = await read().catch(() => undefined);
      // Keep the last values when JetStream did not answer; drop consumers no longer worked.
      if (!readings) return;
      this.reset();
      for (const r of readings) this.set({ stream: r.stream, consumer: r.durable }, r.pending + r.ackPending);
    },
  });
}
