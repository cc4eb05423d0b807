import { latencyQuantileMs } from './latency-histogram.js';
import type { MetricsWindow } from './metrics-window.js';

/** What the counters of a window add up to. */
export interface MetricsSums {
  delivered: number;
  deliveredFirstAttempt: number;
  deliveredAfterRetry: number;
  expired: number;
  discarded: number;
  rejected: number;
  dropped: number;
  latencyMaxMs: number;
}

/** Amplitude's delivery-metrics summary (reference §5.4, example 18) plus `pendingRetries`. */
export interface DeliveryMetrics {
  timePeriod: MetricsWindow['timePeriod'];
  eventsDelivered: number;
  eventsNotDelivered: number;
  deliveryRate: number;
  latencyInSeconds: number;
  successOnFirstAttempt: number;
  successAfterRetry: number;
  eventsExpired: number;
  eventsDiscarded: number;
  pendingRetries: number;
  timePeriodStart: string;
  timePeriodEnd: string;
}

/**
 * The definitions (README, "Delivery metrics"); every count is of payloads, the unit Movable
 * Ink receives (an event can become an identify and a track):
 * - eventsNotDelivered = expired + rejected + dropped + discarded: every payload that ended
 *   without being delivered;
 * - deliveryRate = delivered / (delivered + notDelivered), 1 when both are 0, four decimals;
 * - latencyInSeconds = p95 of ingest→delivered over the delivered payloads, ms precision, 0
 *   when nothing was delivered;
 * - pendingRetries = payloads waiting for another attempt now, whatever the window.
 */
export function deliveryMetrics(
  window: MetricsWindow,
  sums: MetricsSums,
  latencyCounts: ReadonlyMap<number, number>,
  pendingRetries: number,
): DeliveryMetrics {
  const notDelivered = sums.expired + sums.rejected + sums.dropped + sums.discarded;
  const total = sums.delivered + notDelivered;
  return {
    timePeriod: window.timePeriod,
    eventsDelivered: sums.delivered,
    eventsNotDelivered: notDelivered,
    deliveryRate: total === 0 ? 1 : Math.round((sums.delivered / total) * 10_000) / 10_000,
    latencyInSeconds: Math.round(latencyQuantileMs(latencyCounts, 0.95, sums.latencyMaxMs)) / 1000,
    successOnFirstAttempt: sums.deliveredFirstAttempt,
    successAfterRetry: sums.deliveredAfterRetry,
    eventsExpired: sums.expired,
    eventsDiscarded: sums.discarded,
    pendingRetries,
    timePeriodStart: window.start.toISOString(),
    timePeriodEnd: window.end.toISOString(),
  };
}
