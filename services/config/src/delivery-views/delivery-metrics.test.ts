import { describe, expect, it } from 'vitest';
import { deliveryMetrics, type MetricsSums } from './delivery-metrics.js';
import { latencyBucketOf } from './latency-histogram.js';

const window = { timePeriod: 'CUSTOM' as const, start: new Date('2022-10-01T06:00:00Z'), end: new Date('2022-10-31T06:00:00Z') };
const none: MetricsSums = { delivered: 0, deliveredFirstAttempt: 0, deliveredAfterRetry: 0, expired: 0, discarded: 0, rejected: 0, dropped: 0, latencyMaxMs: 0 };

describe('deliveryMetrics', () => {
  it("answers in the shape of Amplitude's example", () => {
    const latency = new Map([[latencyBucketOf(5_098), 19]]);
    expect(deliveryMetrics(window, { ...none, delivered: 19, deliveredFirstAttempt: 19, latencyMaxMs: 5_098 }, latency, 0)).toEqual({
      timePeriod: 'CUSTOM',
      eventsDelivered: 19,
      eventsNotDelivered: 0,
      deliveryRate: 1,
      latencyInSeconds: 5.098,
      timePeriodStart: '2022-10-01T06:00:00.000Z',
      timePeriodEnd: '2022-10-31T06:00:00.000Z',
      successOnFirstAttempt: 19,
      successAfterRetry: 0,
      eventsExpired: 0,
      eventsDiscarded: 0,
      pendingRetries: 0,
    });
  });

  it.each<[string, Partial<MetricsSums>, number, number]>([
    ['nothing happened', {}, 0, 1],
    ['only discards', { discarded: 4 }, 4, 0],
    ['one of each kind of failure', { delivered: 6, expired: 1, rejected: 1, dropped: 1, discarded: 1 }, 4, 0.6],
    ['a rate with a long fraction', { delivered: 2, expired: 1 }, 1, 0.6667],
  ])('%s', (_name, sums, notDelivered, rate) => {
    const metrics = deliveryMetrics(window, { ...none, ...sums }, new Map(), 3);
    expect(metrics.eventsNotDelivered).toBe(notDelivered);
    expect(metrics.deliveryRate).toBe(rate);
    expect(metrics.latencyInSeconds).toBe(0);
    expect(metrics.pendingRetries).toBe(3);
  });
});
