import { describe, expect, it } from 'vitest';
import type { DeliveryJob } from '@inkstream/contracts';
import { Batcher } from './batcher.js';
import type { Transmission } from './transmitter.js';

function job(i: number, size = 10): DeliveryJob {
  return {
    v: 1, syncId: 's', projectId: 'p', payloadType: 'track', messageId: `m${i}`, userKey: `u${i}`, receivedAt: 0,
    payload: { type: 'track', event: 'x'.repeat(size), timestamp: 0, message_id: `m${i}` },
  };
}

function harness(batchSize: number, maxRequestBytes: number, lingerMs = 20) {
  const requests: DeliveryJob[][] = [];
  const batcher = new Batcher(
    () => ({ batchSize, maxRequestBytes, lingerMs }),
    async (jobs) => {
      requests.push(jobs);
      return jobs.map((j): Transmission => ({ job: j, verdict: { kind: 'delivered' }, result: { status: 200, latencyMs: 1, responseExcerpt: '' }, sentAt: 0, tries: 1 }));
    },
  );
  return { requests, batcher };
}

describe('Batcher', () => {
  it('flushes when full', async () => {
    const { requests, batcher } = harness(3, 1_000_000);
    const done = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => batcher.submit(job(i))));
    expect(requests.map((r) => r.length)).toEqual([3, 3]);
    expect(done.every((t) => t.verdict.kind === 'delivered')).toBe(true);
  });

  it('flushes after the linger time', async () => {
    const { requests, batcher } = harness(100, 1_000_000);
    await Promise.all([batcher.submit(job(1)), batcher.submit(job(2))]);
    expect(requests.map((r) => r.length)).toEqual([2]);
  });

  it('keeps every request strictly under maxRequestBytes', async () => {
    const max = 2_000;
    const { requests, batcher } = harness(1000, max);
    await Promise.all(Array.from({ length: 40 }, (_, i) => batcher.submit(job(i, 150 + (i % 7) * 20))));
    expect(requests.flat()).toHaveLength(40);
    for (const r of requests) {
      const body = JSON.stringify({ events: r.map((j) => j.payload) });
      expect(Buffer.byteLength(body)).toBeLessThan(max);
    }
    expect(requests.length).toBeGreaterThan(1);
  });
});
