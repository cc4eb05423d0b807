import type { MetricsWindow } from '../delivery-views/metrics-window.js';

const MINUTE_MS = 60_000;

/** Bucket sizes a series may use, minutes: the first that keeps the points within MAX_POINTS. */
export const BUCKET_MINUTES = [1, 2, 5, 10, 15, 30, 60, 120, 180, 240, 360, 720, 1440, 2880, 10080] as const;
export const MAX_POINTS = 60;

/** What one minute of a sync added up to (a row of `delivery_minutes`). */
export interface MinuteCounts {
  minute: Date;
  delivered: number;
  /** expired + rejected + dropped + discarded, as `eventsNotDelivered` of the metrics. */
  notDelivered: number;
  /** Attempts answered with anything but a 2xx, or not answered. */
  failedAttempts: number;
}

export interface SeriesPoint {
  /** Bucket start, inclusive. */
  start: string;
  delivered: number;
  notDelivered: number;
  failedAttempts: number;
}

export interface DeliverySeries {
  timePeriod: MetricsWindow['timePeriod'];
  bucketSeconds: number;
  timePeriodStart: string;
  timePeriodEnd: string;
  points: SeriesPoint[];
}

/** The smallest bucket (whole minutes) that cuts a window of `minutes` into at most MAX_POINTS. */
export function bucketMinutesFor(minutes: number): number {
  for (const size of BUCKET_MINUTES) if (Math.ceil(minutes / size) <= MAX_POINTS) return size;
  return Math.ceil(minutes / MAX_POINTS);
}

/**
 * A window's minutes folded into equal buckets from the window's start, every bucket present
 * (zeros where nothing happened) so a chart's time axis is even; the last bucket may reach past
 * the window's end when the sizes do not divide it.
 */
export function deliverySeries(window: MetricsWindow, minutes: readonly MinuteCounts[]): DeliverySeries {
  const start = window.start.getTime();
  const span = Math.max(1, Math.round((window.end.getTime() - start) / MINUTE_MS));
  const size = bucketMinutesFor(span);
  const count = Math.ceil(span / size);
  const points: SeriesPoint[] = Array.from({ length: count }, (_, i) => ({
    start: new Date(start + i * size * MINUTE_MS).toISOString(),
    delivered: 0,
    notDelivered: 0,
    failedAttempts: 0,
  }));
  for (const m of minutes) {
    const index = Math.floor((m.minute.getTime() - start) / (size * MINUTE_MS));
    const point = points[index];
    if (!point) continue;
    point.delivered += m.delivered;
    point.notDelivered += m.notDelivered;
    point.failedAttempts += m.failedAttempts;
  }
  return {
    timePeriod: window.timePeriod,
    bucketSeconds: size * 60,
    timePeriodStart: window.start.toISOString(),
    timePeriodEnd: window.end.toISOString(),
    points,
  };
}
