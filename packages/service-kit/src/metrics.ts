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
