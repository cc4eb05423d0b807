import { createMetricsRegistry } from '@inkstream/service-kit';
import { describe, expect, it } from 'vitest';
import { createDeliveryMetrics, statusClass } from './metrics.js';

describe('delivery metrics', () => {
  it('adds the folded counts of the hot path to the counters whenever they are read', async () => {
    const registry = createMetricsRegistry('delivery');
    const metrics = createDeliveryMetrics(registry);
    const delivered = metrics.folded.payload('s1', 'delivered');
    expect(metrics.folded.payload('s1', 'delivered')).toBe(delivered);
    delivered.n += 3;
    metrics.folded.attempt('s1', statusClass(204)).n++;
    metrics.payloads.inc({ sync: 's1', result: 'delivered' });
    const read = async () => {
      const text = await registry.metrics();
      const value = (name: string, label: string) =>
        Number(text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes('sync="s1"') && l.includes(label))?.split(' ').pop());
      return {
        delivered: value('inkstream_delivery_payloads_total', 'result="delivered"'),
        attempts: value('inkstream_delivery_attempts_total', 'status_class="2xx"'),
      };
    };
    expect(await read()).toEqual({ delivered: 4, attempts: 1 });
    // Read again: nothing is counted twice; counted meanwhile: added.
    expect(await read()).toEqual({ delivered: 4, attempts: 1 });
    delivered.n++;
    expect(await read()).toEqual({ delivered: 5, attempts: 1 });
  });

  it('names status classes', () => {
    expect([statusClass(undefined), statusClass(429), statusClass(200), statusClass(503), statusClass(404)]).toEqual(['error', '429', '2xx', '5xx', '4xx']);
  });
});
