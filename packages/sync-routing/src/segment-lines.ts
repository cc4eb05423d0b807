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

/**
 * What a segment writer needs of one payload: the fields of its head and its JSON, with their
 * UTF-8 bytes counted once (RoutedPayload is one). `messageId` and `payloadType` must be JSON-safe
 * ASCII (ids from `messageIdFor`, 'track' or 'identify'): the writer puts them between quotes as
 * they are.
 */
export interface SegmentItem {
  messageId: string;
  payloadType: string;
  /** `JSON.stringify(userKey)`. */
  userKeyJson: string;
  receivedAt: number;
  payloadJson: string;
  /** UTF-8 bytes of its head without trace context (headBytes) plus those of payloadJson. */
  bytes: number;
}

/**
 * The head's last field as JSON.stringify writes it: `,"receivedAt":<n>` (null when not finite),
 * nothing when there is no number (records of older versions had none).
 */
function receivedAtPart(receivedAt: number | undefined): string {
  if (typeof receivedAt !== 'number') return '';
  return Number.isFinite(receivedAt) ? `,"receivedAt":${receivedAt}` : ',"receivedAt":null';
}

/** Characters of a head without trace context besides its values and receivedAt: `{"messageId":"…","userKey":…,"payloadType":"…"}`. */
const HEAD_FRAME_BYTES = '{"messageId":"","userKey":,"payloadType":""}'.length;

/**
 * UTF-8 bytes of a payload head without trace context, from its fields (JSON-safe ASCII
 * `messageId` and `payloadType`, see SegmentItem) and the bytes of `JSON.stringify(userKey)`:
 * equal to `Buffer.byteLength(payloadHeadJson(head))`, without building the text.
 */
export function headBytes(messageId: string, payloadType: string, userKeyJsonBytes: number, receivedAt: number | undefined): number {
  return HEAD_FRAME_BYTES + messageId.length + payloadType.length + userKeyJsonBytes + receivedAtPart(receivedAt).length;
}

/** A SegmentItem's head JSON with the trace suffix: what `headWithTrace(payloadHeadJson(head), traceSuffix)` gives. */
export function itemHeadJson(item: SegmentItem, traceSuffix = ''): string {
  return `{"messageId":"${item.messageId}","userKey":${item.userKeyJson},"payloadType":"${item.payloadType}"${receivedAtPart(item.receivedAt)}${traceSuffix}}`;
}

const COMMA = 0x2c;
const NEWLINE = 0x0a;

/**
 * The segment's bytes (`segmentText(prefix, heads, payloadJsons, traceSuffix)` in UTF-8), written
 * straight into one buffer of the size the items' `bytes` give: no segment text is built, and a
 * payload's head text exists only while it is written. Throws when the items' byte counts are
 * not what they hold (a bug, never data).
 */
export function writeSegment(prefix: string, items: readonly SegmentItem[], traceSuffix = ''): Buffer {
  if (items.length === 0) throw new Error('a segment holds one head per payload, at least one');
  const suffixBytes = traceSuffix === '' ? 0 : Buffer.byteLength(traceSuffix);
  let total = Buffer.byteLength(prefix) + SEGMENT_FRAME_BYTES + 1 + 2 * (items.length - 1);
  for (let i = 0; i < items.length; i++) total += items[i]!.bytes + suffixBytes;
  const out = Buffer.allocUnsafe(total);
  let at = out.write(prefix, 0);
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out[at++] = COMMA;
    at += out.write(itemHeadJson(items[i]!, traceSuffix), at);
  }
  at += out.write(']}\n', at, 'latin1');
  let last = 0;
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out[at++] = NEWLINE;
    at += last = out.write(items[i]!.payloadJson, at);
  }
  // A count too high leaves bytes unwritten; one too low cuts a piece short (the last one, when
  // everything else fitted: checked by its length).
  if (at !== total || last !== Buffer.byteLength(items[items.length - 1]!.payloadJson)) {
    throw new Error(`segment of ${at} bytes where its items count ${total}`);
  }
  return out;
}
