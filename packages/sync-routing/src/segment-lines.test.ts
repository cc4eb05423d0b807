import { describe, expect, it } from 'vitest';
import { encodeDeliverySegment, itemsOfDeliveryMessage, type SegmentPayloadHead } from '@inkstream/contracts';
import { headTraceSuffix, headWithTrace, payloadHeadJson, segmentPrefix, segmentText, segmentTextOf, singlePayloadSegmentBytes } from './segment-lines.js';

describe('segment lines', () => {
  const heads: SegmentPayloadHead[] = [
    { messageId: 'm1', userKey: 'u "1" é', payloadType: 'identify', receivedAt: 5 },
    { messageId: 'm2', userKey: 'u2', payloadType: 'track', receivedAt: 6 },
  ];
  const payloads = ['{"type":"identify","x":"a\\nb"}', '{"type":"track","é":1}'];

  it('segmentTextOf is segmentText of the pieces', () => {
    const headJsons = heads.map(payloadHeadJson);
    const pieces = headJsons.map((headJson, i) => ({ headJson, payloadJson: payloads[i]! }));
    for (const suffix of ['', headTraceSuffix({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' })]) {
      expect(segmentTextOf('P[', pieces, suffix)).toBe(segmentText('P[', headJsons, payloads, suffix));
      expect(segmentTextOf('P[', pieces.slice(0, 1), suffix)).toBe(segmentText('P[', headJsons.slice(0, 1), payloads.slice(0, 1), suffix));
    }
    expect(() => segmentTextOf('P[', [])).toThrow();
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
