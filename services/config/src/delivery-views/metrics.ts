import { Counter, type Registry } from '@inkstream/service-kit';

export interface ProjectionMetrics {
  outcomes: Counter<'result'>;
  failures: Counter;
}

export function createProjectionMetrics(registry: Registry): ProjectionMetrics {
  return {
    outcomes: new Counter({
      name: 'inkstream_config_outcomes_total',
      help:
        'Delivery outcomes taken from the outcome stream, by result (applied; duplicate = applied before; ' +
        'unusable = malformed; skipped = no longer in the stream)',
      labelNames: ['result'],
      registers: [registry],
    }),
    failures: new Counter({
      name: 'inkstream_config_outcome_batch_failures_total',
      help: 'Outcome batches that could not be written to the database (retried)',
      registers: [registry],
    }),
  };
}
