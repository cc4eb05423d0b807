import type { SegmentPayloadHead } from '@inkstream/contracts';

/**
 * The pieces of a v2 delivery segment (`@inkstream/contracts` delivery-segment.ts) as strings, so
 * the filter builds a segment by concatenation: each payload's head and JSON are serialized once,
 * when it is routed. `segmentText(…)` is exactly `encodeDeliverySegment(head, payloadJsons)`.
 */

const str = JSON.stringify;

/** `JSON.stringify(head)` of a payload head without trace context, field for field. */
export function payloadHeadJson(head: SegmentPayloadHead): string {
  if (typeof head.userKey !== 'string' || typeof head.receivedAt !== 'number' || !Number.isFinite(head.receivedAt)) return str(head);
  return `{"messageId":${str(head.messageId)},"userKey":${str(head.userKey)},"payloadType":${str(head.payloadType)},"receivedAt":${head.receivedAt}}`;
}

/** W3C trace context a payload head carries. */
export interface HeadTrace {
  traceparent?: string;
  tracestate?: string;
}

/** What a head without trace context gets before its closing brace to carry `trace` ('' for none). */
export function headTraceSuffix(trace: HeadTrace | undefined): string {
  if (!trace) return '';
  let out = '';
  if (typeof trace.traceparent === 'string') out += `,"traceparent":${str(trace.traceparent)}`;
  if (typeof trace.tracestate === 'string') out += `,"tracestate":${str(trace.tracestate)}`;
  return out;
}

/** A head's JSON (from payloadHeadJson) with the trace suffix (from headTraceSuffix). */
export function headWithTrace(headJson: string, traceSuffix: string): string {
  return traceSuffix === '' ? headJson : `${headJson.slice(0, -1)}${traceSuffix}}`;
}

/** The segment's text up to its first payload head: `{"v":2,"syncId":…,"projectId":…,"payloads":[`. */
export function segmentPrefix(syncId: string, projectId: string): string {
  return `{"v":2,"syncId":${str(syncId)},"projectId":${str(projectId)},"payloads":[`;
}

/** Bytes a segment adds to its prefix and heads: `]}` after the heads, a newline per payload, a comma per head but the first. */
export const SEGMENT_FRAME_BYTES = 2;

/**
 * The segment's text: the prefix, the heads (with the trace suffix), then one line per payload.
 * Equal to `encodeDeliverySegment(head, payloadJsons)` for the head those pieces describe.
 */
export function segmentText(prefix: string, headJsons: readonly string[], payloadJsons: readonly string[], traceSuffix = ''): string {
  if (headJsons.length === 0 || headJsons.length !== payloadJsons.length) throw new Error('a segment holds one head per payload, at least one');
  let heads = '';
  for (let i = 0; i < headJsons.length; i++) heads += (i === 0 ? '' : ',') + headWithTrace(headJsons[i]!, traceSuffix);
  return `${prefix}${heads}]}\n${payloadJsons.join('\n')}`;
}

/** Bytes of a segment of one payload, given the UTF-8 bytes of its prefix, head, trace suffix and payload JSON. */
export function singlePayloadSegmentBytes(prefixBytes: number, headBytes: number, payloadBytes: number, traceSuffixBytes = 0): number {
  return prefixBytes + headBytes + traceSuffixBytes + SEGMENT_FRAME_BYTES + 1 + payloadBytes;
}

/** segmentText for payloads given with their pieces (`headJson`, `payloadJson`), without arrays of the pieces. */
export function segmentTextOf(prefix: string, payloads: ReadonlyArray<{ headJson: string; payloadJson: string }>, traceSuffix = ''): string {
  if (payloads.length === 0) throw new Error('a segment holds one head per payload, at least one');
  let heads = prefix;
  let lines = '';
  for (let i = 0; i < payloads.length; i++) {
    const p = payloads[i]!;
    heads += (i === 0 ? '' : ',') + headWithTrace(p.headJson, traceSuffix);
    lines += (i === 0 ? '' : '\n') + p.payloadJson;
  }
  return `${heads}]}\n${lines}`;
}
