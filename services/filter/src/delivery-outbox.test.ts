import { describe, expect, it } from 'vitest';
import { itemsOfDeliveryMessage } from '@inkstream/contracts';
import { headBytes, segmentPrefix, type RoutedPayload } from '@inkstream/sync-routing';
import { chunkPayloads, groupPayloads, OutboxProgress, publishOutbox, segmentMessageId, type OutgoingSegment } from './delivery-outbox.js';

function payload(syncId: string, userKey: string, n: number, fill = 0): RoutedPayload {
  const messageId = `${syncId}-${userKey}-${n}`;
  const p = { type: 'track' as const, event: 'Tick', user_id: userKey, timestamp: 1, message_id: messageId, properties: { n, fill: 'x'.repeat(fill) } };
  const userKeyJson = JSON.stringify(userKey);
  const payloadJson = JSON.stringify(p);
  const bytes = headBytes(messageId, 'track', Buffer.byteLength(userKeyJson), 5) + Buffer.byteLength(payloadJson);
  return { syncId, payloadType: 'track', messageId, userKey, userKeyJson, receivedAt: 5, payload: p, payloadJson, bytes };
}

const decode = (s: OutgoingSegment) => itemsOfDeliveryMessage(new TextDecoder().decode(s.data));

describe('delivery outbox', () => {
  it('groups per sync and partition in the order given, and names each segment by its sync and payload ids', () => {
    const ps = [payload('s1', 'a', 0), payload('s2', 'a', 0), payload('s1', 'b', 0), payload('s1', 'a', 1)];
    const groups = groupPayloads(ps, () => 3);
    expect(groups.map((g) => [g.syncId, g.partition, g.payloads.map((p) => p.messageId)])).toEqual([
      ['s1', 3, ['s1-a-0', 's1-b-0', 's1-a-1']],
      ['s2', 3, ['s2-a-0']],
    ]);
    expect(groupPayloads(ps, (u) => (u === 'a' ? 1 : 2)).map((g) => [g.syncId, g.partition])).toEqual([
      ['s1', 1],
      ['s2', 1],
      ['s1', 2],
    ]);
    const id = segmentMessageId('s1', ps.slice(0, 1));
    expect(id).toMatch(/^s2:[A-Za-z0-9_-]{43}$/);
    expect(segmentMessageId('s1', [payload('s1', 'a', 0)])).toBe(id);
    expect(segmentMessageId('s1', [ps[0]!, ps[2]!])).not.toBe(segmentMessageId('s1', [ps[2]!, ps[0]!]));
  });

  it('chunks a group so each segment stays within the bound', () => {
    const ps = Array.from({ length: 10 }, (_, i) => payload('s1', 'a', i, 100));
    const prefixBytes = Buffer.byteLength(segmentPrefix('s1', 'p1'));
    const max = 800;
    const chunks = chunkPayloads(ps, prefixBytes, 0, max);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.flat()).toEqual(ps);
    for (const c of chunks) {
      const bytes = prefixBytes + 2 + c.reduce((s, p) => s + p.bytes + 2, 0) - 1;
      expect(bytes).toBeLessThanOrEqual(max);
    }
  });

  it('publishes one segment per sync with every payload in order, each head carrying the trace context', async () => {
    const sent: OutgoingSegment[] = [];
    const ps = [payload('s1', 'a', 0), payload('s1', 'b', 0), payload('s2', 'a', 0), payload('s1', 'a', 1)];
    const trace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    const progress = new OutboxProgress();
    await publishOutbox(ps, { projectId: 'p1', trace, maxBytes: 1 << 20, partitionOf: () => 0, send: async (s) => void sent.push(s), tooLarge: () => false }, progress);
    expect(sent.map((s) => [s.syncId, decode(s).map((i) => i.messageId)])).toEqual([
      ['s1', ['s1-a-0', 's1-b-0', 's1-a-1']],
      ['s2', ['s2-a-0']],
    ]);
    expect(decode(sent[0]!).every((i) => i.traceparent === trace.traceparent && i.projectId === 'p1')).toBe(true);
    expect(JSON.parse(decode(sent[0]!)[0]!.payloadJson)).toEqual(ps[0]!.payload);
    // The publish span's own context replaces the outbox's in every head (same size, same payloads).
    const publishTrace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01' };
    const retraced = itemsOfDeliveryMessage(new TextDecoder().decode(sent[0]!.withTrace(publishTrace)));
    expect(retraced.map((i) => [i.messageId, i.traceparent, i.payloadJson])).toEqual(decode(sent[0]!).map((i) => [i.messageId, publishTrace.traceparent, i.payloadJson]));
    // A context of another size than the chunking budgeted for keeps the segment as it was.
    expect(sent[0]!.withTrace({ ...publishTrace, tracestate: 'k=v' })).toBe(sent[0]!.data);
    expect(sent[0]!.withTrace(trace)).toBe(sent[0]!.data);
    expect(progress.queued).toBe(4);
    expect(progress.segments).toBe(2);
  });

  it('halves a chunk the server refuses for its size, down to single payloads, and gives up on those still refused', async () => {
    const ps = Array.from({ length: 5 }, (_, i) => payload('s1', 'a', i, i === 3 ? 500 : 10));
    const sent: OutgoingSegment[] = [];
    const tried: number[] = [];
    const tooBig = new Error('MAX_PAYLOAD_EXCEEDED');
    const send = async (s: OutgoingSegment) => {
      tried.push(s.payloads.length);
      if (s.data.length > 600) throw tooBig;
      sent.push(s);
    };
    const progress = new OutboxProgress();
    await publishOutbox(ps, { projectId: 'p1', trace: undefined, maxBytes: 1 << 20, partitionOf: () => 0, send, tooLarge: (e) => e === tooBig }, progress);
    expect(sent.flatMap((s) => decode(s).map((i) => i.messageId))).toEqual(['s1-a-0', 's1-a-1', 's1-a-2', 's1-a-4']);
    expect(progress.refused.map((p) => p.messageId)).toEqual(['s1-a-3']);
    expect(tried[0]).toBe(5);
    // A retry of the whole outbox sends nothing again.
    const again: OutgoingSegment[] = [];
    await publishOutbox(ps, { projectId: 'p1', trace: undefined, maxBytes: 1 << 20, partitionOf: () => 0, send: async (s) => void again.push(s), tooLarge: () => false }, progress);
    expect(again).toEqual([]);
    expect(progress.refused).toHaveLength(1);
  });

  it('a failed publish is thrown after the other groups ran; what was stored is not sent again on retry', async () => {
    const ps = [payload('s1', 'a', 0), payload('s2', 'a', 0)];
    const progress = new OutboxProgress();
    let fail = true;
    const sent: string[] = [];
    const send = async (s: OutgoingSegment) => {
      if (s.syncId === 's1' && fail) throw new Error('timeout');
      sent.push(s.msgId);
    };
    const options = { projectId: 'p1', trace: undefined, maxBytes: 1 << 20, partitionOf: () => 0, send, tooLarge: () => false };
    await expect(publishOutbox(ps, options, progress)).rejects.toThrow('timeout');
    expect(sent).toEqual([segmentMessageId('s2', [ps[1]!])]);
    fail = false;
    await publishOutbox(ps, options, progress);
    expect(sent).toEqual([segmentMessageId('s2', [ps[1]!]), segmentMessageId('s1', [ps[0]!])]);
  });
});
