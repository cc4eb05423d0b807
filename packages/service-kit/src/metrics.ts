import { Registry, collectDefaultMetrics } from 'prom-client';

/** One Prometheus registry per service, with Node's process metrics and a `service` label. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'inkstream_' });
  return registry;
}

export { Counter, Gauge, Histogram, Registry } from 'prom-client';
