import { LATENCY_BUCKETS, LATENCY_BUCKET_BOUNDS_MS } from '@inkstream/contracts';

// The fixed buckets are shared with the publishers, which count v2 aggregates in them.
export { LATENCY_BUCKETS, LATENCY_BUCKET_BOUNDS_MS, latencyBucketOf } from '@inkstream/contracts';

/**
 * The `quantile` (0…1) of the latencies counted in `counts` (bucket index → count), estimated
 * like Prometheus' histogram_quantile: linear within the bucket that holds the rank, and never
 * above `maxMs`, the longest latency observed (which also closes the open top bucket).
 * 0 when nothing was counted.
 */
export function latencyQuantileMs(counts: ReadonlyMap<number, number>, quantile: number, maxMs: number): number {
  let total = 0;
  for (const count of counts.values()) total += count;
  if (total === 0) return 0;
  const rank = quantile * total;
  let below = 0;
  for (let bucket = 0; bucket < LATENCY_BUCKETS; bucket++) {
    const count = counts.get(bucket) ?? 0;
    if (count === 0) continue;
    if (below + count >= rank) {
      const lower = bucket === 0 ? 0 : LATENCY_BUCKET_BOUNDS_MS[bucket - 1]!;
      const upper = LATENCY_BUCKET_BOUNDS_MS[bucket] ?? Math.max(lower, maxMs);
      const estimate = lower + ((upper - lower) * (rank - below)) / count;
      return Math.min(estimate, maxMs);
    }
    below += count;
  }
  return maxMs;
}
