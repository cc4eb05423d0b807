/**
 * Upper bounds (ms, inclusive) of the fixed ingest→delivered latency buckets: bucket `i` holds
 * latencies in (bound[i-1], bound[i]], the last bucket (index = bounds.length) everything
 * longer. Fixed so that minutes, syncs and replicas add up; fine where Movable Ink's p50/p99
 * targets are (tens to hundreds of ms), coarse where only Amplitude's p95 ≤ 60 s matters, and
 * up to the longest retry window (3 days).
 */
export const LATENCY_BUCKET_BOUNDS_MS: readonly number[] = [
  10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000,
  3_600_000, 7_200_000, 14_400_000, 43_200_000, 86_400_000, 259_200_000,
];

export const LATENCY_BUCKETS = LATENCY_BUCKET_BOUNDS_MS.length + 1;

export function latencyBucketOf(latencyMs: number): number {
  const ms = Math.max(0, latencyMs);
  // Binary search for the first bound >= ms.
  let lo = 0;
  let hi = LATENCY_BUCKET_BOUNDS_MS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (LATENCY_BUCKET_BOUNDS_MS[mid]! >= ms) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

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
