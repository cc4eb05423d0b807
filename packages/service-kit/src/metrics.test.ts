import { describe, expect, it } from 'vitest';
import { createMetricsRegistry, registerConsumerLagGauge, type ConsumerLagReading } from './metrics.js';

describe('registerConsumerLagGauge', () => {
  it('reports waiting plus in-progress messages per consumer, as of the last successful read', async () => {
    const registry = createMetricsRegistry('t');
    let next: () => Promise<ConsumerLagReading[]> = async () => [
      { stream: 'NS_INGEST', durable: 'ns-filter-p00', pending: 5, ackPending: 2 },
      { stream: 'NS_INGEST', durable: 'ns-filter-p01', pending: 0, ackPending: 0 },
    ];
    registerConsumerLagGauge(registry, () => next());
    const sample = async () => (await registry.getSingleMetricAsString('inkstream_consumer_lag_messages')).split('\n').filter((l) => !l.startsWith('#'));

    expect(await sample()).toEqual([
      'inkstream_consumer_lag_messages{stream="NS_INGEST",consumer="ns-filter-p00",service="t"} 7',
      'inkstream_consumer_lag_messages{stream="NS_INGEST",consumer="ns-filter-p01",service="t"} 0',
    ]);
    next = async () => Promise.reject(new Error('timeout'));
    expect(await sample()).toHaveLength(2);
    next = async () => [{ stream: 'NS_INGEST', durable: 'ns-filter-p01', pending: 3, ackPending: 0 }];
    expect(await sample()).toEqual(['inkstream_consumer_lag_messages{stream="NS_INGEST",consumer="ns-filter-p01",service="t"} 3']);
  });
});
