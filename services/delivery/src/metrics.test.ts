import { Histogram, createMetricsRegistry } from '@inkstream/service-kit';
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

  it('adds the folded latencies to the histogram whenever it is read, exactly as observing each would', async () => {
    const registry = createMetricsRegistry('delivery');
    const metrics = createDeliveryMetrics(registry);
    // The same histogram, observed value by value.
    const plainRegistry = createMetricsRegistry('delivery');
    const plain = new Histogram({
      name: 'inkstream_delivery_ingest_to_delivered_seconds',
      help: 'From ingest acceptance to the 2xx of Movable Ink',
      labelNames: ['sync'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
      registers: [plainRegistry],
    });
    const text = async (r: typeof registry) =>
      (await r.metrics())
        .split('\n')
        .filter((l) => l.startsWith('inkstream_delivery_ingest_to_delivered_seconds'))
        .join('\n');
    const observe = (sync: string, seconds: number[]) => {
      const folded = metrics.folded.latency(sync);
      expect(metrics.folded.latency(sync)).toBe(folded);
      for (const s of seconds) {
        folded.observe(s);
        plain.observe({ sync }, s);
      }
    };
    observe('s1', [0, 0.01, 0.0100001, 0.3, 2.5, 7, 3600, 5000]);
    expect(await text(registry)).toBe(await text(plainRegistry));
    expect(await text(registry)).toContain('inkstream_delivery_ingest_to_delivered_seconds_count{service="delivery",sync="s1"} 8');
    // Read again: nothing added twice; observed meanwhile (another sync too): added.
    expect(await text(registry)).toBe(await text(plainRegistry));
    observe('s2', [0.02]);
    observe('s1', [0.04, 61]);
    expect(await text(registry)).toBe(await text(plainRegistry));
    // After a reset of the registry, only what came after it.
    registry.resetMetrics();
    plainRegistry.resetMetrics();
    observe('s1', [0.2]);
    expect(await text(registry)).toBe(await text(plainRegistry));
    expect(await text(registry)).toContain('inkstream_delivery_ingest_to_delivered_seconds_count{service="delivery",sync="s1"} 1');
  });

  it('names status classes', () => {
    expect([statusClass(undefined), statusClass(429), statusClass(200), statusClass(503), statusClass(404)]).toEqual(['error', '429', '2xx', '5xx', '4xx']);
  });
});
