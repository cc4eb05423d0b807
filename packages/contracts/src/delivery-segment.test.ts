import { describe, expect, it } from 'vitest';
import type { DeliveryJob } from './delivery-job.js';
import { encodeDeliverySegment, itemsOfDeliveryMessage, jobOfItem, UnreadableDeliveryMessage, type DeliverySegmentHead } from './delivery-segment.js';

const SYNC = '22222222-2222-4222-8222-222222222222';
const PROJECT = '11111111-1111-4111-8111-111111111111';

const job: DeliveryJob = {
  v: 1,
  syncId: SYNC,
  projectId: PROJECT,
  payloadType: 'track',
  messageId: 'm1',
  userKey: 'u:1',
  receivedAt: 1_767_225_600_000,
  payload: { type: 'track', event: 'Signed Up', user_id: 'u1', timestamp: 1_767_225_600_000, properties: { note: 'a\nb "quoted"' } } as never,
};

describe('delivery messages', () => {
  it('reads a v1 job as one item, its payload serialized once', () => {
    const items = itemsOfDeliveryMessage(JSON.stringify(job));
    expect(items).toEqual([
      { syncId: SYNC, projectId: PROJECT, messageId: 'm1', userKey: 'u:1', payloadType: 'track', receivedAt: job.receivedAt, payloadJson: JSON.stringify(job.payload) },
    ]);
    expect(jobOfItem(items[0]!)).toEqual(job);
  });

  it('reads a v2 segment back payload by payload, the payload JSON byte for byte', () => {
    const head: DeliverySegmentHead = {
      v: 2,
      syncId: SYNC,
      projectId: PROJECT,
      payloads: [
        { messageId: 'm1', userKey: 'u:1', payloadType: 'track', receivedAt: 1, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
        { messageId: 'm2', userKey: 'u:2', payloadType: 'identify', receivedAt: 2 },
      ],
    };
    const jsons = [JSON.stringify(job.payload), '{"type":"identify","user_id":"ü\\u2028"}'];
    const items = itemsOfDeliveryMessage(encodeDeliverySegment(head, jsons));
    expect(items.map((i) => i.payloadJson)).toEqual(jsons);
    expect(items.map((i) => [i.messageId, i.userKey, i.payloadType, i.receivedAt, i.syncId, i.projectId])).toEqual([
      ['m1', 'u:1', 'track', 1, SYNC, PROJECT],
      ['m2', 'u:2', 'identify', 2, SYNC, PROJECT],
    ]);
    expect(items[0]!.traceparent).toBe(head.payloads[0]!.traceparent);
    expect(items[1]!.traceparent).toBeUndefined();
  });

  it('refuses what it cannot read', () => {
    const head = { v: 2, syncId: SYNC, projectId: PROJECT, payloads: [{ messageId: 'm1', userKey: 'u', payloadType: 'track', receivedAt: 1 }] };
    for (const text of [
      'not json',
      '[]',
      JSON.stringify({ ...job, v: 3 }),
      JSON.stringify({ ...job, payload: undefined }),
      `${JSON.stringify(head)}\n{}\n{}`,
      `${JSON.stringify({ ...head, v: 1 })}\n{}`,
      `${JSON.stringify({ ...head, payloads: [] })}\n`,
      `${JSON.stringify({ ...head, payloads: [{ messageId: 'm1' }] })}\n{}`,
    ]) {
      expect(() => itemsOfDeliveryMessage(text), text).toThrow(UnreadableDeliveryMessage);
    }
  });

  it('will not frame a payload JSON with a raw newline, or a count that does not match', () => {
    const head: DeliverySegmentHead = { v: 2, syncId: SYNC, projectId: PROJECT, payloads: [{ messageId: 'm1', userKey: 'u', payloadType: 'track', receivedAt: 1 }] };
    expect(() => encodeDeliverySegment(head, ['{"a":\n1}'])).toThrow();
    expect(() => encodeDeliverySegment(head, [])).toThrow();
    expect(() => encodeDeliverySegment({ ...head, payloads: [] }, [])).toThrow();
  });
});
