import { describe, expect, it } from 'vitest';
import type { DeliveryItem } from '@inkstream/contracts';
import { requestBody } from '@inkstream/movable-ink';
import { Batcher } from './batcher.js';
import type { Transmission } from './transmitter.js';

function job(i: number, size = 10): DeliveryItem {
  return {
    syncId: 's', projectId: 'p', payloadType: 'track', messageId: `m${i}`, userKey: `u${i}`, receivedAt: 0,
    payloadJson: JSON.stringify({ type: 'track', event: 'x'.repeat(size), timestamp: 0, message_id: `m${i}` }),
  };
}

function harness(batchSize: number, maxRequestBytes: number, lingerMs = 20) {
  const requests: DeliveryItem[][] = [];
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

  it('hands each payload its own result, also when the results come back reordered', async () => {
    const batcher = new Batcher(
      () => ({ batchSize: 4, maxRequestBytes: 1_000_000, lingerMs: 20 }),
      async (jobs) => {
        return [...jobs].reverse().map((j): Transmission => ({ job: j, verdict: { kind: 'delivered' }, result: { status: 200, latencyMs: 1, responseExcerpt: j.messageId }, sentAt: 0, tries: 1 }));
      },
    );
    const done = await Promise.all([0, 1, 2, 3].map((i) => batcher.submit(job(i))));
    expect(done.map((t) => [t.job.messageId, t.result.responseExcerpt])).toEqual([0, 1, 2, 3].map((i) => [`m${i}`, `m${i}`]));
  });

  it('fails a payload left without a result instead of leaving it waiting', async () => {
    const batcher = new Batcher(
      () => ({ batchSize: 2, maxRequestBytes: 1_000_000, lingerMs: 20 }),
      async (jobs) => jobs.slice(1).map((j): Transmission => ({ job: j, verdict: { kind: 'delivered' }, result: { status: 200, latencyMs: 1, responseExcerpt: '' }, sentAt: 0, tries: 1 })),
    );
    const [first, second] = await Promise.allSettled([batcher.submit(job(0)), batcher.submit(job(1))]);
    expect(first.status).toBe('rejected');
    expect(second.status).toBe('fulfilled');
  });

  it('keeps every request strictly under maxRequestBytes', async () => {
    const max = 2_000;
    const { requests, batcher } = harness(1000, max);
    await Promise.all(Array.from({ length: 40 }, (_, i) => batcher.submit(job(i, 150 + (i % 7) * 20))));
    expect(requests.flat()).toHaveLength(40);
    for (const r of requests) {
      const body = requestBody(r.map((j) => j.payloadJson), { batched: true });
      expect(Buffer.byteLength(body)).toBeLessThan(max);
    }
    expect(requests.length).toBeGreaterThan(1);
    // Full requests: adding the next payload would have reached the limit.
    for (let i = 0; i < requests.length - 1; i++) {
      const withNext = requestBody([...requests[i]!, requests[i + 1]![0]!].map((j) => j.payloadJson), { batched: true });
      expect(Buffer.byteLength(withNext)).toBeGreaterThanOrEqual(max);
    }
  });

  it('seats the payloads of one request on one promise of its results, by position', async () => {
    const { requests, batcher } = harness(2, 1_000_000);
    const seats = [0, 1, 2].map((i) => batcher.join(job(i)));
    expect(seats.map((s) => s.index)).toEqual([0, 1, 0]);
    expect(seats[0]!.batch).toBe(seats[1]!.batch);
    expect(seats[2]!.batch).not.toBe(seats[0]!.batch);
    const results = await Promise.all(seats.map(async (s) => (await s.batch)[s.index]!.job.messageId));
    expect(results).toEqual(['m0', 'm1', 'm2']);
    expect(requests.map((r) => r.length)).toEqual([2, 1]);
  });

  it('fails every payload of a request that failed', async () => {
    const batcher = new Batcher(
      () => ({ batchSize: 2, maxRequestBytes: 1_000_000, lingerMs: 20 }),
      async () => {
        throw new Error('send failed');
      },
    );
    const settled = await Promise.allSettled([batcher.submit(job(0)), batcher.submit(job(1))]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
  });
});
