import { describe, expect, it } from 'vitest';
import type { DeliverySettings, SyncSnapshot } from '@inkstream/contracts';
import { waitFor } from '@inkstream/testing';
import { GOOD_AUTHORIZATION, useDeliveryHarness } from './testing/delivery-harness.js';

describe('delivery through real NATS to a stand-in endpoint', () => {
  const h = useDeliveryHarness({ baseMs: 200, capMs: 1_000 });
  const GOOD = GOOD_AUTHORIZATION;

  const enqueue = (sync: SyncSnapshot, count: number, users = 4, pad = 0, from = 0) =>
    h.enqueue(sync, count, { users, from, properties: { pad: 'x'.repeat(pad) } });

  const delivered = (syncId: string) =>
    h.standIn.requests
      .filter((r) => r.headers.authorization === GOOD && r.status !== undefined && r.status < 300)
      .flatMap((r) => {
        const json = r.json as { events?: unknown[] } & Record<string, unknown>;
        return (json.events ?? [json]) as Array<{ message_id: string; user_id: string; properties: { seq: number } }>;
      })
      .filter((p) => p.message_id.startsWith(syncId));
  const uniqueDelivered = (syncId: string) => new Set(delivered(syncId).map((p) => p.message_id)).size;

  it('delivers each payload with the sync’s headers and counts each delivery in the outcome aggregates', async () => {
    const sync = h.newSync();
    await enqueue(sync, 20);
    await waitFor(() => uniqueDelivered(sync.id) === 20, 'all 20 delivered');
    await waitFor(() => h.queueEmpty(sync.id), 'queue empty');
    const request = h.standIn.requests.find((r) => r.headers.authorization === GOOD)!;
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.path).toBe('/behavioral/abc');
    // First-attempt deliveries are counted per sync and minute, with a few sampled records.
    const counted = async () =>
      (await h.outcomeMessages(sync.id)).reduce((n, m) => n + (m.v === 2 ? m.minutes.reduce((k, x) => k + (x.results.delivered ?? 0), 0) : 0), 0);
    await waitFor(async () => (await counted()) >= 20, 'the deliveries counted');
    expect(await counted()).toBe(20);
    const outcomes = await h.outcomes(sync.id);
    expect(outcomes.length).toBeGreaterThan(0);
    expect(outcomes.every((o) => o.result === 'delivered' && o.attempt === 1 && o.status === 200)).toBe(true);
  });

  it('rides out a 429 storm (with and without Retry-After) and 5xx: all delivered, concurrency halved then regained', async () => {
    const sync = h.newSync({ maxConcurrency: 8 });
    h.standIn.respondWith((_r, i) => {
      if (i < 60) return i % 3 === 0 ? { status: 429, headers: { 'retry-after': '1' } } : i % 3 === 1 ? { status: 429 } : { status: 503 };
      return { status: 200 };
    });
    let lowest = 8;
    const watch = setInterval(() => {
      for (const s of h.service.syncs) if (s.id === sync.id) lowest = Math.min(lowest, s.concurrencyLimit);
    }, 5);
    await enqueue(sync, 40, 10);
    await waitFor(() => uniqueDelivered(sync.id) === 40, 'all 40 delivered', 120_000);
    const stormRequests = h.standIn.requests.length;
    clearInterval(watch);
    expect(lowest).toBeLessThan(8);
    // Healthy traffic after the storm: concurrency climbs back, one per healthy second.
    for (let round = 0; round < 60 && [...h.service.syncs].find((s) => s.id === sync.id)!.concurrencyLimit <= lowest; round++) {
      await new Promise((r) => setTimeout(r, 1_100));
      await enqueue(sync, 2, 2, 0, 1_000 + round * 2);
    }
    await waitFor(() => [...h.service.syncs].find((s) => s.id === sync.id)!.concurrencyLimit > lowest, 'concurrency to recover', 60_000);
    // Attempts are bounded: the storm was 60 refusals, after which every payload went through once.
    expect(stormRequests).toBeLessThanOrEqual(60 + 40 + 10);
    expect(await h.deadLetters(sync.id)).toEqual([]);
  });

  it('retries connection resets, hung requests (timeout) and slow answers until delivered', async () => {
    const sync = h.newSync({ requestTimeoutMs: 300, maxConcurrency: 2 });
    h.standIn.respondWith((_r, i) => {
      if (i % 4 === 0 && i < 12) return { status: 200, reset: true };
      if (i % 4 === 1 && i < 12) return { status: 200, hang: true };
      if (i % 4 === 2 && i < 12) return { status: 200, delayMs: 150 };
      return { status: 200 };
    });
    await enqueue(sync, 8, 8);
    await waitFor(() => uniqueDelivered(sync.id) === 8, 'all 8 delivered despite resets and hangs', 120_000);
    const outcomes = await waitFor(async () => {
      const o = await h.outcomes(sync.id);
      return o.filter((x) => x.result === 'retry').length >= 2 ? o : undefined;
    }, 'retry outcomes for the reset and the timeout');
    const errors = outcomes.filter((o) => o.result === 'retry').map((o) => o.error ?? '');
    expect(errors.some((e) => /reset|socket|closed|other side/i.test(e))).toBe(true);
    expect(errors.some((e) => /timeout|aborted/i.test(e))).toBe(true);
    expect(await h.deadLetters(sync.id)).toEqual([]);
  });

  it('holds payloads while credentials are wrong (failing), delivers them once fixed', async () => {
    let sync = h.newSync({}, 'Basic d3Jvbmc6Y3JlZHM=');
    h.standIn.respondWith((r) => (r.headers.authorization === GOOD ? { status: 200 } : { status: 401, body: '{"message":"bad credentials"}' }));
    await enqueue(sync, 10, 3);
    await waitFor(async () => {
      const o = await h.outcomes(sync.id);
      return o.some((x) => x.result === 'failing' && x.status === 401 && x.responseBody?.includes('bad credentials'));
    }, 'a failing outcome');
    expect(uniqueDelivered(sync.id)).toBe(0);
    sync = h.change(sync, { authorizationSealed: h.secrets.seal(GOOD) });
    await waitFor(() => uniqueDelivered(sync.id) === 10, 'all delivered after the fix', 120_000);
    expect(await h.deadLetters(sync.id)).toEqual([]);
  });

  it('keeps each user’s order under retries, and a failing user does not block the others', async () => {
    const sync = h.newSync({ maxConcurrency: 4 });
    let failuresLeft = 4;
    h.standIn.respondWith((r) => {
      const p = r.json as { user_id: string };
      if (p.user_id === 'user-0' && failuresLeft > 0) {
        failuresLeft--;
        return { status: 500 };
      }
      return { status: 200 };
    });
    await enqueue(sync, 40, 4);
    await waitFor(() => uniqueDelivered(sync.id) === 40, 'all delivered', 120_000);
    const payloads = delivered(sync.id);
    for (let u = 0; u < 4; u++) {
      const seqs = payloads.filter((p) => p.user_id === `user-${u}`).map((p) => p.properties.seq);
      const firstTimes = seqs.filter((s, i) => seqs.indexOf(s) === i);
      expect(firstTimes).toEqual([...firstTimes].sort((a, b) => a - b));
    }
    // Others were delivered while user-0 waited for its retry.
    const firstUser0 = payloads.findIndex((p) => p.user_id === 'user-0');
    const othersBefore = payloads.slice(0, firstUser0).filter((p) => p.user_id !== 'user-0').length;
    expect(othersBefore).toBeGreaterThan(0);
  });

  it('batches under maxRequestBytes and splits a batch refused with 413', async () => {
    const sync = h.newSync({ batchSize: 50, maxRequestBytes: 20_000 });
    let refused = 0;
    h.standIn.respondWith((r) => {
      const events = (r.json as { events?: unknown[] }).events;
      if (events && events.length > 10 && refused < 2) {
        refused++;
        return { status: 413 };
      }
      return { status: 200 };
    });
    await enqueue(sync, 120, 30, 300);
    await waitFor(() => uniqueDelivered(sync.id) === 120, 'all 120 delivered', 60_000);
    expect(refused).toBe(2);
    for (const r of h.standIn.requests) expect(Buffer.byteLength(r.body)).toBeLessThan(20_000);
    expect(h.standIn.requests.some((r) => ((r.json as { events?: unknown[] }).events?.length ?? 0) > 1)).toBe(true);
  });

  it('dead-letters rejected payloads at once and expired ones after the retry window', async () => {
    const sync = h.newSync({ retryWindowSeconds: 2 } as Partial<DeliverySettings>);
    h.standIn.respondWith((r) => ((r.json as { properties: { seq: number } }).properties.seq === 0 ? { status: 422, body: '{"message":"unmapped"}' } : { status: 503 }));
    await enqueue(sync, 3, 3);
    const letters = await waitFor(async () => {
      const d = await h.deadLetters(sync.id);
      return d.length >= 3 ? d : undefined;
    }, 'three dead letters', 60_000);
    const byReason = Object.fromEntries(letters.map((l) => [l.job.payload.message_id, l.reason]));
    expect(byReason[`${sync.id}-m0`]).toBe('rejected');
    expect(byReason[`${sync.id}-m1`]).toBe('expired');
    expect(byReason[`${sync.id}-m2`]).toBe('expired');
    const rejected = letters.find((l) => l.reason === 'rejected')!;
    expect(rejected).toMatchObject({ lastStatus: 422, attempts: 1 });
    expect(rejected.lastResponse).toContain('unmapped');
    await waitFor(() => h.queueEmpty(sync.id), 'queue empty');
  });

  it('turns the queue of a deleted sync into dead letters', async () => {
    let sync = h.newSync();
    sync = h.change(sync, { enabled: false });
    await enqueue(sync, 5, 2);
    sync = h.change(sync, { deleted: true });
    await waitFor(async () => (await h.deadLetters(sync.id)).length === 5, 'five dead letters', 60_000);
    const letters = await h.deadLetters(sync.id);
    expect(letters.every((l) => l.reason === 'sync deleted')).toBe(true);
    expect(uniqueDelivered(sync.id)).toBe(0);
  });
});
