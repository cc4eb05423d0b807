import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS, LATENCY_BUCKET_BOUNDS_MS, latencyBucketOf, latencyQuantileMs } from './latency-histogram.js';

/** Counts of the buckets a list of latencies falls into. */
function histogram(latenciesMs: number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const ms of latenciesMs) counts.set(latencyBucketOf(ms), (counts.get(latencyBucketOf(ms)) ?? 0) + 1);
  return counts;
}

describe('latencyBucketOf', () => {
  it.each([
    [-5, 0],
    [0, 0],
    [10, 0],
    [10.5, 1],
    [25, 1],
    [26, 2],
    [999, 6],
    [1_000, 6],
    [1_001, 7],
    [60_000, 11],
    [259_200_000, LATENCY_BUCKET_BOUNDS_MS.length - 1],
    [259_200_001, LATENCY_BUCKETS - 1],
    [1e12, LATENCY_BUCKETS - 1],
  ])('%d ms → bucket %d', (ms, bucket) => {
    expect(latencyBucketOf(ms)).toBe(bucket);
  });

  it('has increasing bounds', () => {
    for (let i = 1; i < LATENCY_BUCKET_BOUNDS_MS.length; i++) {
      expect(LATENCY_BUCKET_BOUNDS_MS[i]).toBeGreaterThan(LATENCY_BUCKET_BOUNDS_MS[i - 1]!);
    }
  });
});

describe('latencyQuantileMs', () => {
  const max = (values: number[]) => Math.max(...values);
  it.each<[string, number[], number]>([
    ['nothing delivered', [], 0],
    ['one delivery: its own latency', [2_000], 2_000],
    ['all equal: that latency', Array(40).fill(1_001), 1_001],
    // 100 deliveries, 95 at 80 ms and 5 at 20 s: rank 95 is the last of the (50,100] bucket.
    ['the 95th of 100', [...Array(95).fill(80), ...Array(5).fill(20_000)], 100],
    // 90 fast, 10 at 4 s: rank 95 is the 5th of 10 in (2500, 5000] → 2500 + 2500 × 5/10.
    ['interpolated within its bucket', [...Array(90).fill(30), ...Array(10).fill(4_000)], 3_750],
    // The open top bucket is closed by the longest latency seen: 259.2M + 40.8M × 0.95.
    ['beyond the last bound', [...Array(10).fill(300_000_000)], 297_960_000],
  ])('%s', (_name, latencies, expected) => {
    expect(latencyQuantileMs(histogram(latencies), 0.95, latencies.length ? max(latencies) : 0)).toBeCloseTo(expected, 6);
  });

  it('stays within the bucket of the true value', () => {
    const latencies = Array.from({ length: 1000 }, (_, i) => 5 + i * 37);
    const sorted = [...latencies].sort((a, b) => a - b);
    const exact = sorted[Math.ceil(0.95 * sorted.length) - 1]!;
    const estimate = latencyQuantileMs(histogram(latencies), 0.95, max(latencies));
    const bucket = latencyBucketOf(exact);
    expect(estimate).toBeGreaterThan(bucket === 0 ? 0 : LATENCY_BUCKET_BOUNDS_MS[bucket - 1]!);
    expect(estimate).toBeLessThanOrEqual(LATENCY_BUCKET_BOUNDS_MS[bucket]!);
  });
});
