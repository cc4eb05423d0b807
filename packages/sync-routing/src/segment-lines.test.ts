import { describe, expect, it } from 'vitest';
import { encodeDeliverySegment, itemsOfDeliveryMessage, type SegmentPayloadHead } from '@inkstream/contracts';
import {
  headBytes,
  headTraceSuffix,
  headWithTrace,
  itemHeadJson,
  payloadHeadJson,
  segmentPrefix,
  segmentText,
  singlePayloadSegmentBytes,
  writeSegment,
  type SegmentItem,
} from './segment-lines.js';

describe('segment lines', () => {
  const heads: SegmentPayloadHead[] = [
    { messageId: 'm1', userKey: 'u "1" é', payloadType: 'identify', receivedAt: 5 },
    { messageId: 'm2', userKey: 'u2', payloadType: 'track', receivedAt: 6 },
  ];
  const payloads = ['{"type":"identify","x":"a\\nb"}', '{"type":"track","é":1}'];

  const itemOf = (head: SegmentPayloadHead, payloadJson: string): SegmentItem => {
    const userKeyJson = JSON.stringify(head.userKey);
    return {
      messageId: head.messageId,
      payloadType: head.payloadType,
      userKeyJson,
      receivedAt: head.receivedAt,
      payloadJson,
      bytes: headBytes(head.messageId, head.payloadType, Buffer.byteLength(userKeyJson), head.receivedAt) + Buffer.byteLength(payloadJson),
    };
  };

  it("counts a head's bytes from its fields, as payloadHeadJson writes it (odd receivedAt too)", () => {
    const odd: SegmentPayloadHead[] = [
      ...heads,
      { messageId: 'm3', userKey: '\u2028 "\\ 😀', payloadType: 'track', receivedAt: Infinity },
      { messageId: 'm4', userKey: 'u4', payloadType: 'track', receivedAt: undefined as unknown as number },
      { messageId: 'm5', userKey: 'u5', payloadType: 'identify', receivedAt: 1.5e21 },
    ];
    for (const head of odd) {
      const json = payloadHeadJson(head);
      const item = itemOf(head, '{}');
      expect(itemHeadJson(item)).toBe(json);
      expect(headBytes(head.messageId, head.payloadType, Buffer.byteLength(item.userKeyJson), head.receivedAt)).toBe(Buffer.byteLength(json));
      expect(itemHeadJson(item, ',"traceparent":"x"')).toBe(headWithTrace(json, ',"traceparent":"x"'));
    }
    expect(payloadHeadJson(odd[3]!)).not.toContain('receivedAt');
  });

  it('writeSegment writes the bytes of segmentText, with and without trace context', () => {
    const headJsons = heads.map(payloadHeadJson);
    const items = heads.map((h, i) => itemOf(h, payloads[i]!));
    for (const suffix of ['', headTraceSuffix({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'é=1' })]) {
      expect(writeSegment('P"é"[', items, suffix)).toEqual(Buffer.from(segmentText('P"é"[', headJsons, payloads, suffix)));
      expect(writeSegment('P[', items.slice(1), suffix)).toEqual(Buffer.from(segmentText('P[', headJsons.slice(1), payloads.slice(1), suffix)));
    }
    expect(() => writeSegment('P[', [])).toThrow();
  });

  it('writeSegment refuses items whose byte counts are wrong (a bug, not data)', () => {
    const item = itemOf(heads[0]!, payloads[0]!);
    expect(() => writeSegment('P[', [{ ...item, bytes: item.bytes + 1 }])).toThrow(/bytes/);
    expect(() => writeSegment('P[', [{ ...item, bytes: item.bytes - 1 }])).toThrow(/bytes/);
  });

  it('builds exactly the segment encodeDeliverySegment writes, with and without trace context', () => {
    const headJsons = heads.map(payloadHeadJson);
    expect(headJsons).toEqual(heads.map((h) => JSON.stringify(h)));
    expect(segmentText(segmentPrefix('s "1"', 'p1'), headJsons, payloads)).toBe(encodeDeliverySegment({ v: 2, syncId: 's "1"', projectId: 'p1', payloads: heads }, payloads));
    const trace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'a=1' };
    const suffix = headTraceSuffix(trace);
    const traced = heads.map((h) => ({ ...h, ...trace }));
    const text = segmentText(segmentPrefix('s', 'p'), headJsons, payloads, suffix);
    expect(text).toBe(encodeDeliverySegment({ v: 2, syncId: 's', projectId: 'p', payloads: traced }, payloads));
    expect(itemsOfDeliveryMessage(text).map((i) => [i.messageId, i.traceparent, i.tracestate, i.payloadJson])).toEqual([
      ['m1', trace.traceparent, 'a=1', payloads[0]],
      ['m2', trace.traceparent, 'a=1', payloads[1]],
    ]);
    expect(headWithTrace(headJsons[0]!, '')).toBe(headJsons[0]);
    expect(headTraceSuffix(undefined)).toBe('');
  });

  it('counts the bytes of a one-payload segment', () => {
    const prefix = segmentPrefix('s', 'p');
    const head = payloadHeadJson(heads[0]!);
    const suffix = headTraceSuffix({ traceparent: 'x' });
    const text = segmentText(prefix, [head], [payloads[1]!], suffix);
    expect(singlePayloadSegmentBytes(Buffer.byteLength(prefix), Buffer.byteLength(head), Buffer.byteLength(payloads[1]!), Buffer.byteLength(suffix))).toBe(Buffer.byteLength(text));
  });
});
