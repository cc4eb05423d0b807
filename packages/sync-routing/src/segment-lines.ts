/**
 * A v2 delivery segment (`@inkstream/contracts` delivery-segment.ts) written from pieces counted
 * once: each payload's JSON is serialized when it is routed, its head from its fields as the
 * segment is written (writeSegment), byte for byte what `encodeDeliverySegment` writes.
 */

const str = JSON.stringify;

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

/** The segment's text up to its first payload head: `{"v":2,"syncId":…,"projectId":…,"payloads":[`. */
export function segmentPrefix(syncId: string, projectId: string): string {
  return `{"v":2,"syncId":${str(syncId)},"projectId":${str(projectId)},"payloads":[`;
}

/** Bytes a segment adds to its prefix and heads: `]}` after the heads, a newline per payload, a comma per head but the first. */
export const SEGMENT_FRAME_BYTES = 2;

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
 * equal to `Buffer.byteLength(JSON.stringify(head))`, without building the text.
 */
export function headBytes(messageId: string, payloadType: string, userKeyJsonBytes: number, receivedAt: number | undefined): number {
  return HEAD_FRAME_BYTES + messageId.length + payloadType.length + userKeyJsonBytes + receivedAtPartLength(receivedAt);
}

/** Largest integer whose digits writeDigits writes (below 2^53, so every one is exact). */
const MAX_DIGITS_INTEGER = 999_999_999_999_999;

/**
 * receivedAtPart(receivedAt).length without its text, for a receive time in epoch ms (a
 * non-negative integer): routing counts a head per payload.
 */
function receivedAtPartLength(receivedAt: number | undefined): number {
  if (typeof receivedAt !== 'number' || !Number.isInteger(receivedAt) || receivedAt < 0 || receivedAt > MAX_DIGITS_INTEGER) {
    return receivedAtPart(receivedAt).length;
  }
  let digits = 1;
  for (let n = receivedAt; n >= 10; n = Math.floor(n / 10)) digits++;
  return HEAD_RECEIVED_AT.length + digits;
}

/** Writes the decimal digits of a non-negative integer up to MAX_DIGITS_INTEGER at `at` (its text as JSON.stringify writes it); answers where they end. */
function writeDigits(out: Buffer, n: number, at: number): number {
  let end = at + 1;
  for (let m = n; m >= 10; m = Math.floor(m / 10)) end++;
  let i = end;
  let m = n;
  do {
    out[--i] = 0x30 + (m % 10);
    m = Math.floor(m / 10);
  } while (m > 0);
  return end;
}

/** A SegmentItem's head as `JSON.stringify` writes it, with the trace suffix before its closing brace. */
export function itemHeadJson(item: SegmentItem, traceSuffix = ''): string {
  return `{"messageId":"${item.messageId}","userKey":${item.userKeyJson},"payloadType":"${item.payloadType}"${receivedAtPart(item.receivedAt)}${traceSuffix}}`;
}

const COMMA = 0x2c;
const NEWLINE = 0x0a;
const QUOTE = 0x22;
const CLOSING_BRACE = 0x7d;
const HEAD_OPENING = Buffer.from('{"messageId":"', 'latin1');
const HEAD_USER_KEY = Buffer.from('","userKey":', 'latin1');
const HEAD_PAYLOAD_TYPE = Buffer.from(',"payloadType":"', 'latin1');
const HEAD_RECEIVED_AT = Buffer.from(',"receivedAt":', 'latin1');

/** Writes ASCII text at `at` (one byte per character, no encoder call); throws on any other character (a bug, never data). */
function writeAscii(out: Buffer, text: string, at: number): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) throw new Error(`not ASCII: ${JSON.stringify(text)}`);
    out[at + i] = c;
  }
  return at + text.length;
}

/**
 * Writes itemHeadJson(item, traceSuffix) at `at`, piece by piece: the head's text is never built
 * (the constant parts are copied, the ASCII fields written a byte per character, only the user
 * key's JSON and the trace suffix go through the UTF-8 encoder). Answers where it ends.
 */
function writeHead(out: Buffer, at: number, item: SegmentItem, traceSuffix: string): number {
  out.set(HEAD_OPENING, at);
  at = writeAscii(out, item.messageId, at + HEAD_OPENING.length);
  out.set(HEAD_USER_KEY, at);
  at += HEAD_USER_KEY.length;
  at += out.write(item.userKeyJson, at);
  out.set(HEAD_PAYLOAD_TYPE, at);
  at = writeAscii(out, item.payloadType, at + HEAD_PAYLOAD_TYPE.length);
  out[at++] = QUOTE;
  const { receivedAt } = item;
  if (typeof receivedAt === 'number') {
    out.set(HEAD_RECEIVED_AT, at);
    at += HEAD_RECEIVED_AT.length;
    // An epoch-ms receive time (every one ingest writes) is written digit by digit, without its text.
    if (Number.isInteger(receivedAt) && receivedAt >= 0 && receivedAt <= MAX_DIGITS_INTEGER) at = writeDigits(out, receivedAt, at);
    else at = writeAscii(out, Number.isFinite(receivedAt) ? `${receivedAt}` : 'null', at);
  }
  if (traceSuffix !== '') at += out.write(traceSuffix, at);
  out[at++] = CLOSING_BRACE;
  return at;
}

/**
 * The segment's bytes (`encodeDeliverySegment` of its heads, with the trace suffix, and payloads), written
 * straight into one buffer of the size the items' `bytes` give: no segment or head text is
 * built. Throws when the items' byte counts are not what they hold (a bug, never data).
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
    at = writeHead(out, at, items[i]!, traceSuffix);
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
