import { describe, expect, it } from 'vitest';
import type { DeliveryJob, SyncSnapshot } from '@inkstream/contracts';
import { misbehaviour, payloadsOf, stormResponder, waitFor } from '@inkstream/testing';
import { GOOD_AUTHORIZATION, deliveryJob, orderOf, trackPayload, useDeliveryHarness } from './testing/delivery-harness.js';

/**
 * The guarantees of spec/pipeline.md (delivery) against the real NATS and a stand-in endpoint
 * that misbehaves: per-user order (no payload sent before every earlier one of its user was
 * delivered), at most one request in flight per user, nothing lost, duplicates only of the same
 * message_id and only after.
 */
describe('delivery guarantees under endpoint faults', () => {
  const h = useDeliveryHarness({ baseMs: 200, capMs: 1_000 });
  const WRONG = 'Basic d3Jvbmc6Y3JlZHM=';

  /** `perUser` numbered payloads for each of `users` users, interleaved as a stream would be. */
  async function enqueue(sync: SyncSnapshot, users: number, perUser: number): Promise<DeliveryJob[]> {
    const jobs: DeliveryJob[] = [];
    const publishes: Promise<unknown>[] = [];
    for (let seq = 0; seq < perUser; seq++) {
      for (let u = 0; u < users; u++) {
        const userKey = `user-${u}`;
        const job = deliveryJob(sync.id, userKey, trackPayload(userKey, `${sync.id}-u${u}-${seq}`, { seq }));
        // Publishes from one connection are stored in the order they were sent.
        publishes.push(h.publishJob(job));
        jobs.push(job);
      }
    }
    await Promise.all(publishes);
    return jobs;
  }

  const outcomes = (syncId: string) => h.outcomes(syncId);

  /** Everything delivered, in order per user, one request per user at a time; duplicates reported. */
  async function expectAllInOrder(sync: SyncSnapshot, total: number, what: string): Promise<void> {
    await waitFor(() => new Set(h.deliveredIds(sync.id)).size === total, `all ${total} delivered (${what})`, 150_000, 200);
    await waitFor(() => h.queueEmpty(sync.id), 'the queue to be empty', 30_000);
    const ids = h.deliveredIds(sync.id);
    const duplicates = ids.length - new Set(ids).size;
    console.info(`${what}: ${total} payloads, ${h.standIn.requests.length} requests, ${duplicates} duplicates (same message_id, after)`);
    expect(h.standIn.orderViolations(orderOf)).toEqual([]);
    expect(h.standIn.overlaps).toEqual([]);
    expect(await h.deadLetters(sync.id)).toEqual([]);
  }

  it('keeps every user’s order through a few seconds of 503s', async () => {
    const sync = h.newSync({ maxConcurrency: 8 });
    let outageFrom = 0;
    h.standIn.respondWith((_r, i) => {
      if (i === 40) outageFrom = Date.now();
      if (outageFrom && Date.now() - outageFrom < 3_000) return { status: 503 };
      return { status: 200, delayMs: i % 7 };
    });
    await enqueue(sync, 20, 12);
    await expectAllInOrder(sync, 240, '3 s of 503s');
  });

  it('keeps order under a storm of 429 (with and without Retry-After, 0, date), 500, 503, resets, hangs and slow answers, and across a 401 period', async () => {
    let sync = h.newSync({ maxConcurrency: 16, requestTimeoutMs: 400 });
    const storm = stormResponder({
      kinds: ['429', '429 Retry-After: 1', '429 Retry-After: 0', '429 Retry-After: date', '500', '503', 'reset', 'hang', 'slow'],
      rate: 0.25,
      seed: 7,
      slowMs: 150,
    });
    h.standIn.respondWith((r, i) => (r.headers.authorization === WRONG ? { status: 401, body: '{"message":"bad credentials"}' } : storm(r, i)));
    await enqueue(sync, 50, 6);
    await waitFor(() => new Set(h.deliveredIds(sync.id)).size >= 100, 'the storm to let some through', 120_000, 200);

    // Credentials go wrong for a while: the sync is failing, payloads are held, one probe at a time.
    sync = h.change(sync, { authorizationSealed: h.secrets.seal(WRONG) });
    await waitFor(async () => (await outcomes(sync.id)).some((o) => o.result === 'failing'), 'a failing outcome', 60_000, 200);
    await new Promise((r) => setTimeout(r, 3_000));
    const refused = h.standIn.requests.filter((r) => r.headers.authorization === WRONG).length;
    // The requests in flight when the credentials changed, then no more than one probe.
    expect(refused).toBeLessThanOrEqual(16 + 1);
    sync = h.change(sync, { authorizationSealed: h.secrets.seal(GOOD_AUTHORIZATION) });
    await expectAllInOrder(sync, 300, 'storm and a 401 period');
  });

  it('halves concurrency once for a round of concurrent 429s, and never loops on Retry-After: 0', async () => {
    const sync = h.newSync({ maxConcurrency: 16 });
    let afterFirstRound: number | undefined;
    let zeroUntil = 0;
    h.standIn.respondWith((_r, i) => {
      if (i < 16) return { status: 429, delayMs: 100 };
      if (i === 16) {
        // The first request after the round of 16 concurrent 429s: what did they do to concurrency?
        afterFirstRound = [...h.service.syncs].find((s) => s.id === sync.id)?.concurrencyLimit;
        zeroUntil = Date.now() + 2_000;
      }
      if (Date.now() < zeroUntil) return misbehaviour('429 Retry-After: 0');
      return { status: 200 };
    });
    // 16 users, one payload each: 16 requests at once, all refused with 429.
    await enqueue(sync, 16, 1);
    await waitFor(() => h.standIn.requests.length >= 16, '16 requests');
    await waitFor(() => new Set(h.deliveredIds(sync.id)).size === 16, 'all delivered', 60_000);
    expect(afterFirstRound).toBe(8);
    // Retry-After: 0 for 2 s: requests back off instead of looping every millisecond.
    const during = h.standIn.requests.filter((r) => r.at >= zeroUntil - 2_000 && r.at < zeroUntil).length;
    expect(during).toBeLessThan(80);
  });

  it('holds a payload and its user while its retry state or dead letter cannot be written, losing nothing and keeping order', async () => {
    const sync = h.newSync({ maxConcurrency: 4 });
    // user-0's first payload fails once (its retry state must be written), user-1's first is
    // rejected (its dead letter must be written); both writes fail a few times first.
    let failuresLeft = 3; // the quick tries of its first transmission
    h.standIn.respondWith((r) => {
      const p = payloadsOf(r.json)[0]!;
      const { user, seq } = orderOf(p);
      if (user === 'user-1' && seq === 0) return { status: 422, body: '{"message":"unmapped"}' };
      if (user === 'user-0' && seq === 0 && failuresLeft > 0) {
        failuresLeft--;
        return { status: 500 };
      }
      return { status: 200 };
    });
    h.faults.attemptWrites = 4;
    h.faults.deadLetterWrites = 4;
    await enqueue(sync, 3, 5);
    await waitFor(() => new Set(h.deliveredIds(sync.id)).size === 14, 'all but the rejected one delivered', 60_000, 200);
    await waitFor(() => h.queueEmpty(sync.id), 'the queue to be empty', 30_000);
    expect(h.faults).toMatchObject({ attemptWrites: 0, deadLetterWrites: 0 });
    expect(h.standIn.orderViolations(orderOf, (user, seq) => user === 'user-1' && seq === 0)).toEqual([]);
    const letters = await h.deadLetters(sync.id);
    expect(letters.map((l) => [l.job.messageId, l.reason])).toEqual([[`${sync.id}-u1-0`, 'rejected']]);
  });

  it('keeps the backlog and every user’s order across disable and enable while retries are pending', async () => {
    let sync = h.newSync({ maxConcurrency: 4 });
    let healthy = false;
    h.standIn.respondWith(() => (healthy ? { status: 200 } : { status: 503 }));
    await enqueue(sync, 6, 5);
    await waitFor(async () => (await outcomes(sync.id)).filter((o) => o.result === 'retry').length >= 6, 'retries under way', 60_000, 200);
    sync = h.change(sync, { enabled: false });
    await new Promise((r) => setTimeout(r, 2_000));
    const sent = h.standIn.requests.length;
    await new Promise((r) => setTimeout(r, 2_000));
    expect(h.standIn.requests.length).toBe(sent);
    healthy = true;
    sync = h.change(sync, { enabled: true });
    await expectAllInOrder(sync, 30, 'disable and enable');
  });

  it('stops delivering a deleted sync within seconds and dead-letters its queue as `sync deleted`', async () => {
    let sync = h.newSync({ maxConcurrency: 4 });
    h.standIn.respondWith(() => ({ status: 503 }));
    await enqueue(sync, 10, 3);
    await waitFor(async () => (await outcomes(sync.id)).filter((o) => o.result === 'retry').length >= 8, 'retries under way', 60_000, 200);
    sync = h.change(sync, { deleted: true, updatedAt: new Date().toISOString() });
    // In-flight requests may finish; after a few seconds nothing more is sent.
    await new Promise((r) => setTimeout(r, 3_000));
    const sent = h.standIn.requests.length;
    await new Promise((r) => setTimeout(r, 3_000));
    expect(h.standIn.requests.length).toBe(sent);
    const letters = await waitFor(async () => {
      const d = await h.deadLetters(sync.id);
      return d.length >= 30 ? d : undefined;
    }, 'thirty dead letters', 60_000, 200);
    expect(new Set(letters.map((l) => l.job.messageId)).size).toBe(30);
    expect(letters.every((l) => l.reason === 'sync deleted')).toBe(true);
    await waitFor(() => h.queueEmpty(sync.id).catch(() => true), 'the queue to be empty', 30_000);
    // The queue of a disabled sync is never dropped for its age.
    expect((await h.bus.jsm.streams.info(h.topology.streams.delivery.name)).config.max_age).toBe(0);
  });

  it('drains the queue of a sync whose project was deleted into `sync deleted` dead letters', async () => {
    const sync = h.newSync({ maxConcurrency: 2 });
    h.standIn.respondWith(() => ({ status: 503 }));
    await enqueue(sync, 4, 2);
    await waitFor(async () => (await outcomes(sync.id)).some((o) => o.result === 'retry'), 'retries under way', 60_000, 200);
    h.config.apply({ kind: 'project', id: 'p1', name: 'p', apiKeyHash: 'h', version: 99, deleted: true, updatedAt: new Date().toISOString() });
    const letters = await waitFor(async () => {
      const d = await h.deadLetters(sync.id);
      return d.length >= 8 ? d : undefined;
    }, 'eight dead letters', 60_000, 200);
    expect(letters.every((l) => l.reason === 'sync deleted')).toBe(true);
    expect(new Set(letters.map((l) => l.job.messageId)).size).toBe(8);
  });

  it('sends a one-payload flush of a batching sync in the envelope, and discards a single payload refused with 413', async () => {
    const batching = h.newSync({ batchSize: 10 });
    h.standIn.respondWith((r) => (payloadsOf(r.json).some((p) => (p.properties as { seq: number }).seq === 1) ? { status: 413 } : { status: 200 }));
    await enqueue(batching, 1, 1);
    await waitFor(() => h.standIn.requests.length >= 1, 'the flush');
    expect(JSON.parse(h.standIn.requests[0]!.body)).toEqual({ events: [expect.objectContaining({ message_id: `${batching.id}-u0-0` })] });

    const single = h.newSync({ batchSize: 1 });
    await enqueue(single, 1, 2);
    await waitFor(() => h.queueEmpty(single.id), 'the single payloads settled', 60_000);
    const discarded = await waitFor(async () => (await outcomes(single.id)).find((o) => o.result === 'discarded'), 'a discarded outcome');
    expect(discarded).toMatchObject({ messageId: `${single.id}-u0-1`, reason: 'too large', status: 413, attempt: 1 });
    expect(await h.deadLetters(single.id)).toEqual([]);
    expect((await outcomes(single.id)).some((o) => o.result === 'rejected')).toBe(false);
  });
});
