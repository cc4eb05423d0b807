import { describe, expect, it } from 'vitest';
import { encodeDeliverySegment, itemsOfDeliveryMessage, type SegmentPayloadHead } from '@inkstream/contracts';
import { headBytes, headTraceSuffix, itemHeadJson, segmentPrefix, singlePayloadSegmentBytes, writeSegment, type SegmentItem } from './segment-lines.js';

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

  it("writes a head and counts its bytes as JSON.stringify(head) would (odd receivedAt too)", () => {
    const odd: SegmentPayloadHead[] = [
      ...heads,
      { messageId: 'm3', userKey: '\u2028 "\\ 😀', payloadType: 'track', receivedAt: Infinity },
      { messageId: 'm4', userKey: 'u4', payloadType: 'track', receivedAt: undefined as unknown as number },
      { messageId: 'm5', userKey: 'u5', payloadType: 'identify', receivedAt: 1.5e21 },
    ];
    for (const head of odd) {
      const json = JSON.stringify(head);
      const item = itemOf(head, '{}');
      expect(itemHeadJson(item)).toBe(json);
      expect(headBytes(head.messageId, head.payloadType, Buffer.byteLength(item.userKeyJson), head.receivedAt)).toBe(Buffer.byteLength(json));
      expect(itemHeadJson(item, ',"traceparent":"x"')).toBe(JSON.stringify({ ...head, traceparent: 'x' }));
    }
    expect(itemHeadJson(itemOf(odd[3]!, '{}'))).not.toContain('receivedAt');
  });

  it('writes the bytes encodeDeliverySegment writes, with and without trace context, and the reader reads them back', () => {
    const items = heads.map((h, i) => itemOf(h, payloads[i]!));
    const trace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'é=1' };
    for (const [suffix, withTrace] of [
      ['', heads],
      [headTraceSuffix(trace), heads.map((h) => ({ ...h, ...trace }))],
    ] as const) {
      const expected = encodeDeliverySegment({ v: 2, syncId: 's "1"', projectId: 'p1', payloads: withTrace }, payloads);
      const written = writeSegment(segmentPrefix('s "1"', 'p1'), items, suffix);
      expect(written).toEqual(Buffer.from(expected));
      expect(writeSegment(segmentPrefix('s', 'p'), items.slice(1), suffix)).toEqual(
        Buffer.from(encodeDeliverySegment({ v: 2, syncId: 's', projectId: 'p', payloads: withTrace.slice(1) }, payloads.slice(1))),
      );
      expect(itemsOfDeliveryMessage(written.toString()).map((i) => [i.messageId, i.traceparent, i.payloadJson])).toEqual([
        ['m1', suffix === '' ? undefined : trace.traceparent, payloads[0]],
        ['m2', suffix === '' ? undefined : trace.traceparent, payloads[1]],
      ]);
    }
    expect(headTraceSuffix(undefined)).toBe('');
    expect(() => writeSegment('P[', [])).toThrow();
  });

  it('writes every kind of head as itemHeadJson gives it (odd receivedAt, unicode user keys, trace suffix)', () => {
    const odd: SegmentPayloadHead[] = [
      { messageId: 'm3', userKey: '\u2028 "\\ 😀', payloadType: 'track', receivedAt: Infinity },
      { messageId: 'm4', userKey: 'u4', payloadType: 'track', receivedAt: undefined as unknown as number },
      { messageId: 'm5', userKey: 'ü5', payloadType: 'identify', receivedAt: 1.5e21 },
      { messageId: 'm6', userKey: 'u6', payloadType: 'identify', receivedAt: -0.25 },
      ...[0, -0, 9, 10, 99, 100, 1_764_790_000_000, 999_999_999_999_999, 1_000_000_000_000_000, -5, 2 ** 53 + 2].map(
        (receivedAt, i): SegmentPayloadHead => ({ messageId: `n${i}`, userKey: 'u', payloadType: 'track', receivedAt }),
      ),
    ];
    for (const head of odd) {
      const item = itemOf(head, '{}');
      expect(headBytes(head.messageId, head.payloadType, Buffer.byteLength(item.userKeyJson), head.receivedAt)).toBe(Buffer.byteLength(JSON.stringify(head)));
    }
    const items = odd.map((h) => itemOf(h, '{"é":"\u2028"}'));
    for (const suffix of ['', headTraceSuffix({ traceparent: 'x', tracestate: 'ü=1' })]) {
      const expected = `P[${items.map((i) => itemHeadJson(i, suffix)).join(',')}]}\n${items.map((i) => i.payloadJson).join('\n')}`;
      expect(writeSegment('P[', items, suffix).toString()).toBe(expected);
    }
  });

  it('refuses a message id or payload type that is not ASCII (a bug, not data)', () => {
    const item = itemOf({ messageId: 'mé', userKey: 'u', payloadType: 'track', receivedAt: 1 }, '{}');
    expect(() => writeSegment('P[', [item])).toThrow(/ASCII/);
  });

  it('refuses items whose byte counts are wrong (a bug, not data)', () => {
    const item = itemOf(heads[0]!, payloads[0]!);
    expect(() => writeSegment('P[', [{ ...item, bytes: item.bytes + 1 }])).toThrow(/bytes/);
    expect(() => writeSegment('P[', [{ ...item, bytes: item.bytes - 1 }])).toThrow(/bytes/);
  });

  it('counts the bytes of a one-payload segment', () => {
    const prefix = segmentPrefix('s', 'p');
    const item = itemOf(heads[0]!, payloads[1]!);
    const suffix = headTraceSuffix({ traceparent: 'x' });
    const headOnly = item.bytes - Buffer.byteLength(payloads[1]!);
    expect(singlePayloadSegmentBytes(Buffer.byteLength(prefix), headOnly, Buffer.byteLength(payloads[1]!), Buffer.byteLength(suffix))).toBe(writeSegment(prefix, [item], suffix).length);
  });
});
