import { describe, expect, it } from 'vitest';
import { metricsWindow } from '../delivery-views/metrics-window.js';
import { MAX_POINTS, bucketMinutesFor, deliverySeries, type MinuteCounts } from './series-buckets.js';

const MINUTE = 60_000;
const now = Date.parse('2026-03-04T12:30:20Z');

describe('bucketMinutesFor', () => {
  it.each([
    [1, 1],
    [10, 1],
    [60, 1],
    [61, 2],
    [240, 5],
    [1440, 30],
    [7 * 1440, 180],
    [14 * 1440, 360],
    [90 * 1440, 2880],
  ])('%i minutes → buckets of %i', (minutes, size) => {
    expect(bucketMinutesFor(minutes)).toBe(size);
    expect(Math.ceil(minutes / size)).toBeLessThanOrEqual(MAX_POINTS);
  });
});

describe('deliverySeries', () => {
  const minute = (offset: number, counts: Partial<MinuteCounts>): MinuteCounts => ({
    minute: new Date(Date.parse('2026-03-04T11:31:00Z') + offset * MINUTE),
    delivered: 0,
    notDelivered: 0,
    failedAttempts: 0,
    ...counts,
  });

  it('puts every minute in its bucket and keeps empty buckets', () => {
    const window = metricsWindow({ period: 'ONE_HOUR' }, now);
    const series = deliverySeries(window, [
      minute(0, { delivered: 3 }),
      minute(0, { failedAttempts: 1 }),
      minute(59, { delivered: 2, notDelivered: 1 }),
    ]);
    expect(series.bucketSeconds).toBe(60);
    expect(series.points).toHaveLength(60);
    expect(series.points[0]).toEqual({ start: '2026-03-04T11:31:00.000Z', delivered: 3, notDelivered: 0, failedAttempts: 1 });
    expect(series.points[59]).toEqual({ start: '2026-03-04T12:30:00.000Z', delivered: 2, notDelivered: 1, failedAttempts: 0 });
    expect(series.points.slice(1, 59).every((p) => p.delivered + p.notDelivered + p.failedAttempts === 0)).toBe(true);
    expect(series.timePeriodStart).toBe(window.start.toISOString());
    expect(series.timePeriodEnd).toBe(window.end.toISOString());
  });

  it('sums minutes of a larger bucket and ignores minutes outside the window', () => {
    const window = metricsWindow({ period: 'ONE_DAY' }, now);
    const first = window.start.getTime();
    const at = (m: number, delivered: number): MinuteCounts => ({ minute: new Date(first + m * MINUTE), delivered, notDelivered: 0, failedAttempts: 0 });
    const series = deliverySeries(window, [at(0, 1), at(29, 2), at(30, 4), at(-1, 100), at(24 * 60, 100)]);
    expect(series.bucketSeconds).toBe(30 * 60);
    expect(series.points).toHaveLength(48);
    expect(series.points.map((p) => p.delivered).slice(0, 3)).toEqual([3, 4, 0]);
    expect(series.points.reduce((sum, p) => sum + p.delivered, 0)).toBe(7);
  });

  it('covers a custom range that the bucket does not divide', () => {
    const window = metricsWindow({ start: '2026-03-04T10:00:00Z', end: '2026-03-04T11:07:00Z' }, now);
    const series = deliverySeries(window, []);
    expect(series.timePeriod).toBe('CUSTOM');
    expect(series.bucketSeconds).toBe(120);
    expect(series.points).toHaveLength(34);
  });
});
