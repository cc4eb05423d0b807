import { describe, expect, it } from 'vitest';
import { declareConsumer } from '@inkstream/bus';
import type { SyncSnapshot, TrackPayload } from '@inkstream/contracts';
import { payloadsOf, waitFor } from '@inkstream/testing';
import { attemptKey, statefulKey } from './attempt-store.js';
import { deliveryJob, deliverySegment, orderOf, trackPayload, useDeliveryHarness } from './testing/delivery-harness.js';

/**
 * v2 delivery segments (many payloads of one sync and partition in one message) against the real
 * NATS and a stand-in endpoint: order per user, nothing lost, nothing delivered twice when a
 * half-done segment comes back (done marks), v1 jobs still delivered beside them.
 */
describe('delivery of v2 segments', () => {
  const h = useDeliveryHarness({ baseMs: 200, capMs: 500 });

  let segments = 0;

  function payload(sync: SyncSnapshot, user: number, seq: number): { messageId: string; userKey: string; json: string } {
    const userKey = `user-${user}`;
    const messageId = `${sync.id}-u${user}-${seq}`;
    return { messageId, userKey, json: JSON.stringify(trackPayload(userKey, messageId, { seq }, 1)) };
  }

  /**
   * `perUser` numbered payloads for each of `users` users as segments of `perSegment` payloads
   * (users interleaved, each user on one partition, as the filter routes them); every
   * `v1Every`-th payload goes as a v1 job instead (a stream written partly by an older filter).
   */
  async function enqueue(sync: SyncSnapshot, users: number, perUser: number, perSegment: number, v1Every = 0): Promise<string[]> {
    const ids: string[] = [];
    let pending: Array<ReturnType<typeof payload>> = [];
    const publishes: Promise<unknown>[] = [];
    const flush = () => {
      if (pending.length === 0) return;
      // One partition per segment, as the filter writes them: here every user is on partition 0's subject.
      const id = `seg-${++segments}`;
      publishes.push(h.bus.js.publish(h.topology.subjects.delivery(sync.id, 0), deliverySegment(sync.id, pending), { msgID: id }));
      pending = [];
    };
    let n = 0;
    for (let seq = 0; seq < perUser; seq++) {
      for (let u = 0; u < users; u++) {
        const p = payload(sync, u, seq);
        ids.push(p.messageId);
        if (v1Every > 0 && ++n % v1Every === 0) {
          flush();
          publishes.push(h.publishJob(deliveryJob(sync.id, p.userKey, JSON.parse(p.json) as TrackPayload), { partition: 0 }));
          continue;
        }
        pending.push(p);
        if (pending.length >= perSegment) flush();
      }
    }
    flush();
    await Promise.all(publishes);
    return ids;
  }

  const kvKeys = async () => {
    const keys: string[] = [];
    for await (const k of await h.attemptsBucket.keys()) keys.push(k);
    return keys;
  };

  async function expectAllOnceInOrder(sync: SyncSnapshot, ids: string[]): Promise<void> {
    await waitFor(() => new Set(h.deliveredIds(sync.id)).size === ids.length, `all ${ids.length} delivered`, 120_000, 200);
    await waitFor(() => h.queueEmpty(sync.id), 'the queue to be empty', 30_000);
    expect(h.deliveredIds(sync.id).sort()).toEqual([...ids].sort());
    expect(h.standIn.orderViolations(orderOf)).toEqual([]);
    expect(h.standIn.overlaps).toEqual([]);
    expect(await h.deadLetters(sync.id)).toEqual([]);
  }

  it('delivers every payload of multi-payload segments and v1 jobs beside them, in each user’s order, touching no KV', async () => {
    const sync = h.newSync({ maxConcurrency: 8 });
    h.standIn.respondWith((_r, i) => ({ status: 200, delayMs: i % 5 }));
    const ids = await enqueue(sync, 6, 10, 7, 9);
    await expectAllOnceInOrder(sync, ids);
    // Delivered on their first try: no retry state, no done marks, no stateful mark.
    const keys = await kvKeys();
    expect(keys.filter((k) => ids.some((id) => attemptKey(id) === k))).toEqual([]);
    expect(keys).not.toContain(statefulKey(h.topology.consumers.delivery(sync.id).durable_name));
  });

  it('a segment given back half done (one payload waiting for its retry) is not delivered twice when it comes back, and keeps order', async () => {
    const sync = h.newSync({ maxConcurrency: 4 });
    let failing = true;
    // user-1's first payload fails (503) until the replica was replaced; everything else succeeds.
    h.standIn.respondWith((r) => {
      const { user, seq } = orderOf(payloadsOf(r.json)[0]!);
      return failing && user === 'user-1' && seq === 0 ? { status: 503 } : { status: 200 };
    });
    const ids = await enqueue(sync, 4, 3, 12);
    // All of user-0, user-2, user-3 delivered; user-1 waits behind its first payload.
    await waitFor(() => new Set(h.deliveredIds(sync.id)).size === 9, 'the other users delivered', 60_000, 200);
    await waitFor(async () => (await h.outcomes(sync.id)).some((o) => o.result === 'retry'), 'a retry scheduled', 30_000, 200);
    // 9 done marks and user-1's retry state.
    const ofIds = async () => (await kvKeys()).filter((k) => ids.some((id) => attemptKey(id) === k));
    await waitFor(async () => (await ofIds()).length === 10, 'done marks and the retry state', 30_000, 200);
    // A hand-over: the replica stops (gives the segment back), a new one (nothing in memory) takes over.
    await h.restartService();
    await new Promise((r) => setTimeout(r, 1_000));
    failing = false;
    await expectAllOnceInOrder(sync, ids);
    // Every payload delivered exactly once; marks are purged after the segment's ack.
    await waitFor(async () => (await kvKeys()).every((k) => !ids.some((id) => attemptKey(id) === k)), 'the done marks purged', 30_000, 200);
    expect(await h.metric('inkstream_delivery_payloads_total', 'result="skipped_duplicate"')).toBeGreaterThanOrEqual(9);
  });

  it('a segment left unacknowledged by a crashed owner skips its payloads marked done when it comes back after ack_wait', async () => {
    // The sync is disabled: nothing consumes. A "previous owner" takes the segment and dies with it.
    const disabled = h.newSync({ maxConcurrency: 4 }, undefined, { enabled: false });
    const sync = disabled;
    const ids = await enqueue(disabled, 3, 2, 6);
    const consumer = h.topology.consumers.delivery(sync.id);
    await declareConsumer(h.bus.jsm, h.topology.streams.delivery.name, consumer);
    const c = await h.bus.js.consumers.get(h.topology.streams.delivery.name, consumer.durable_name);
    const taken = await c.next({ expires: 5_000 });
    expect(taken).not.toBeNull();
    // It had delivered user-0's and user-1's first payloads (done marks) and had user-2's first waiting.
    await h.attemptsBucket.put(attemptKey(ids[0]!), JSON.stringify({ done: true }));
    await h.attemptsBucket.put(attemptKey(ids[1]!), JSON.stringify({ done: true }));
    await h.attemptsBucket.put(
      attemptKey(ids[2]!),
      JSON.stringify({ attempts: 3, firstAttemptAt: Date.now() - 1_000, lastAttemptAt: Date.now() - 500, nextAttemptAt: Date.now(), lastStatus: 503 }),
    );
    h.change(disabled, { enabled: true });
    // The segment comes back after ack_wait (15 s); the new owner holds everything until then.
    await waitFor(() => new Set(h.deliveredIds(sync.id)).size === 4, 'the unmarked payloads delivered', 60_000, 200);
    await waitFor(() => h.queueEmpty(sync.id), 'the queue to be empty', 30_000);
    expect(h.deliveredIds(sync.id).sort()).toEqual(ids.slice(2).sort());
    expect(h.standIn.orderViolations(orderOf, (user, seq) => seq === 0 && (user === 'user-0' || user === 'user-1'))).toEqual([]);
    // user-2's first payload went on from its retry state (attempt 4).
    const outcome = await waitFor(async () => (await h.outcomes(sync.id)).find((o) => o.messageId === ids[2]), 'its outcome', 10_000, 200);
    expect(outcome.attempt).toBe(4);
    await waitFor(async () => (await kvKeys()).every((k) => !ids.some((id) => attemptKey(id) === k)), 'the marks purged', 30_000, 200);
  }, 90_000);

  it('skips payloads it delivered recently when a message with them comes again (in memory, no KV read)', async () => {
    const sync = h.newSync();
    const payloads = [0, 1, 2].map((u) => payload(sync, u, 0));
    const segment = deliverySegment(sync.id, payloads);
    await h.bus.js.publish(h.topology.subjects.delivery(sync.id, 0), segment, { msgID: `seg-again-1-${sync.id}` });
    await waitFor(() => h.queueEmpty(sync.id), 'the segment settled', 30_000);
    // The same payloads again (as after an ack that never reached NATS).
    await h.bus.js.publish(h.topology.subjects.delivery(sync.id, 0), segment, { msgID: `seg-again-2-${sync.id}` });
    await waitFor(async () => (await h.metric('inkstream_delivery_payloads_total', `sync="${sync.id}"`, 'result="skipped_duplicate"')) === 3, 'three skipped', 30_000, 100);
    await waitFor(() => h.queueEmpty(sync.id), 'the second settled', 30_000);
    expect(h.deliveredIds(sync.id).sort()).toEqual(payloads.map((p) => p.messageId).sort());
  });

  it('terminates an unreadable message (not redelivered) and goes on with the next', async () => {
    const sync = h.newSync();
    const subject = h.topology.subjects.delivery(sync.id, 0);
    await h.bus.js.publish(subject, 'not json at all');
    await h.bus.js.publish(subject, '{"v":3}\nnot a segment');
    await h.bus.js.publish(subject, '{"v":2,"syncId":"s","projectId":"p","payloads":[{"messageId":"m"}]}\n{}');
    const ids = await enqueue(sync, 1, 1, 1);
    await waitFor(() => h.deliveredIds(sync.id).length === 1, 'the readable one delivered', 30_000, 200);
    await waitFor(() => h.queueEmpty(sync.id), 'the queue to be empty', 30_000);
    await new Promise((r) => setTimeout(r, 1_500));
    const info = await h.bus.jsm.consumers.info(h.topology.streams.delivery.name, h.topology.consumers.delivery(sync.id).durable_name);
    expect(info.num_redelivered).toBe(0);
    expect(info.num_ack_pending).toBe(0);
    expect(h.deliveredIds(sync.id)).toEqual(ids);
    expect(await h.metric('inkstream_delivery_messages_unreadable_total', `sync="${sync.id}"`)).toBe(3);
  });

  it('drains the segments of a deleted sync into one `sync deleted` dead letter per payload', async () => {
    let sync = h.newSync({ maxConcurrency: 2 });
    h.standIn.respondWith(() => ({ status: 503 }));
    const ids = await enqueue(sync, 5, 4, 6, 7);
    await waitFor(async () => (await h.outcomes(sync.id)).some((o) => o.result === 'retry'), 'retries under way', 60_000, 200);
    sync = h.change(sync, { deleted: true, updatedAt: new Date().toISOString() });
    const letters = await waitFor(async () => {
      const d = await h.deadLetters(sync.id);
      return new Set(d.map((l) => l.job.messageId)).size >= ids.length ? d : undefined;
    }, 'a dead letter per payload', 90_000, 200);
    expect(new Set(letters.map((l) => l.job.messageId))).toEqual(new Set(ids));
    expect(letters.every((l) => l.reason === 'sync deleted' && l.job.v === 1 && l.job.payload.message_id === l.job.messageId)).toBe(true);
    await waitFor(() => h.queueEmpty(sync.id).catch(() => true), 'the queue to be empty', 30_000);
  }, 120_000);

  it('builds a batching sync’s envelope from the payloads’ JSON as they came in the segment', async () => {
    const sync = h.newSync({ batchSize: 10 });
    const payloads = [0, 1, 2, 3, 4].map((u) => payload(sync, u, 0));
    await h.bus.js.publish(h.topology.subjects.delivery(sync.id, 0), deliverySegment(sync.id, payloads), { msgID: `seg-batch-${sync.id}` });
    await waitFor(() => h.queueEmpty(sync.id), 'the segment settled', 30_000);
    expect(h.standIn.requests).toHaveLength(1);
    expect(h.standIn.requests[0]!.body).toBe(`{"events":[${payloads.map((p) => p.json).join(',')}]}`);
  });
});
