import { Counter, type Registry } from '@inkstream/service-kit';

export interface OutboxMetrics {
  relayed: Counter<'result'>;
  failures: Counter;
}

export function createOutboxMetrics(registry: Registry): OutboxMetrics {
  return {
    relayed: new Counter({
      name: 'inkstream_config_outbox_relayed_total',
      help: 'Config snapshots taken from the outbox, by result (published, stale = a newer version was already there)',
      labelNames: ['result'],
      registers: [registry],
    }),
    failures: new Counter({
      name: 'inkstream_config_outbox_failures_total',
      help: 'Relay passes that stopped because a snapshot could not be published',
      registers: [registry],
    }),
  };
}
