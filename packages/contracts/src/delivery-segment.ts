import type { DeliveryJob } from './delivery-job.js';
import type { MovableInkPayload } from './movable-ink-payload.js';

/** What a segment says of each of its payloads (the payload's JSON is on its own line). */
export interface SegmentPayloadHead {
  /** The payload's own id (stable across retries of its source event): dedup, retry state, dead letters. */
  messageId: string;
  userKey: string;
  payloadType: MovableInkPayload['type'];
  /** When ingest accepted the source event, epoch ms. */
  receivedAt: number;
  /** W3C trace context of the event's trace, so delivery joins it (a v1 job has it in the message headers). */
  traceparent?: string;
  tracestate?: string;
}

/**
 * One message on the delivery stream since segments (v2): payloads of one sync on one partition
 * (`delivery.<syncId>.<partition>`), in the order the filter routed them (so each user's payloads
 * are in their stream order). Framed as lines, so delivery never parses or re-serializes a payload:
 *
 *   line 0:      JSON of the head `{ v: 2, syncId, projectId, payloads: [SegmentPayloadHead…] }`
 *   line 1 + i:  the JSON of payload i, exactly as it goes into the request body
 *
 * JSON text as JSON.stringify writes it never holds a raw newline, so the framing is unambiguous.
 * A v1 message (one DeliveryJob as JSON, older filters and redrive) has no newline at all.
 */
export interface DeliverySegmentHead {
  v: 2;
  syncId: string;
  projectId: string;
  /** At least one. */
  payloads: SegmentPayloadHead[];
}

/** A payload as delivery handles it, from a v1 job or from a v2 segment. */
export interface DeliveryItem extends SegmentPayloadHead {
  syncId: string;
  projectId: string;
  /** The MovableInkPayload as JSON text: what the request body carries. */
  payloadJson: string;
}

/** A message of the delivery stream that is neither a v1 job nor a v2 segment. */
export class UnreadableDeliveryMessage extends Error {
  constructor(reason: string) {
    super(`unreadable delivery message: ${reason}`);
    this.name = 'UnreadableDeliveryMessage';
  }
}

/**
 * The bytes of a v2 segment. `payloadJsons[i]` is the JSON of the payload `head.payloads[i]`
 * describes; a JSON text with a raw newline (not written by JSON.stringify) is refused.
 */
export function encodeDeliverySegment(head: DeliverySegmentHead, payloadJsons: readonly string[]): string {
  if (head.payloads.length === 0) throw new Error('a delivery segment holds at least one payload');
  if (payloadJsons.length !== head.payloads.length) throw new Error('one payload JSON per payload head');
  for (const json of payloadJsons) if (json.includes('\n')) throw new Error('payload JSON with a raw newline');
  return `${JSON.stringify(head)}\n${payloadJsons.join('\n')}`;
}

/**
 * The payloads of a delivery-stream message, in order: one for a v1 job (its payload serialized
 * once here; its trace context is in the message headers, the caller adds it), every payload of a
 * v2 segment. Throws UnreadableDeliveryMessage for anything else.
 */
export function itemsOfDeliveryMessage(text: string): DeliveryItem[] {
  const newline = text.indexOf('\n');
  if (newline < 0) return [itemOfJob(parse(text))];
  const head = parse(text.slice(0, newline)) as Partial<DeliverySegmentHead> & { v?: unknown };
  if (head.v !== 2) throw new UnreadableDeliveryMessage(`framed message of version ${String(head.v)}`);
  const { syncId, projectId, payloads } = head;
  if (typeof syncId !== 'string' || typeof projectId !== 'string') throw new UnreadableDeliveryMessage('v2 segment without syncId or projectId');
  if (!Array.isArray(payloads) || payloads.length === 0) throw new UnreadableDeliveryMessage('v2 segment without payloads');
  const lines = text.slice(newline + 1).split('\n');
  if (lines.length !== payloads.length) {
    throw new UnreadableDeliveryMessage(`v2 segment with ${payloads.length} payload heads and ${lines.length} payload lines`);
  }
  return payloads.map((p: SegmentPayloadHead, i) => {
    if (!isHead(p)) throw new UnreadableDeliveryMessage('v2 segment payload without messageId, userKey, payloadType or receivedAt');
    const item: DeliveryItem = {
      syncId,
      projectId,
      messageId: p.messageId,
      userKey: p.userKey,
      payloadType: p.payloadType,
      receivedAt: p.receivedAt,
      payloadJson: lines[i]!,
    };
    if (typeof p.traceparent === 'string') item.traceparent = p.traceparent;
    if (typeof p.tracestate === 'string') item.tracestate = p.tracestate;
    return item;
  });
}

/** The v1 job a payload is (for dead letters, which keep the job as it was). */
export function jobOfItem(item: DeliveryItem): DeliveryJob {
  return {
    v: 1,
    syncId: item.syncId,
    projectId: item.projectId,
    payloadType: item.payloadType,
    messageId: item.messageId,
    userKey: item.userKey,
    receivedAt: item.receivedAt,
    payload: JSON.parse(item.payloadJson) as MovableInkPayload,
  };
}

function itemOfJob(value: unknown): DeliveryItem {
  const job = value as Partial<DeliveryJob> | null;
  if (typeof job !== 'object' || job === null) throw new UnreadableDeliveryMessage('not an object');
  if (job.v !== 1) throw new UnreadableDeliveryMessage(`unknown version ${String(job.v)}`);
  if (typeof job.syncId !== 'string' || typeof job.projectId !== 'string' || !isHead(job) || typeof job.payload !== 'object' || job.payload === null) {
    throw new UnreadableDeliveryMessage('v1 job without syncId, projectId, messageId, userKey, payloadType, receivedAt or payload');
  }
  return {
    syncId: job.syncId,
    projectId: job.projectId,
    messageId: job.messageId!,
    userKey: job.userKey!,
    payloadType: job.payloadType!,
    receivedAt: job.receivedAt!,
    payloadJson: JSON.stringify(job.payload),
  };
}

function isHead(p: unknown): boolean {
  if (typeof p !== 'object' || p === null) return false;
  const x = p as Partial<SegmentPayloadHead>;
  return (
    typeof x.messageId === 'string' &&
    typeof x.userKey === 'string' &&
    (x.payloadType === 'track' || x.payloadType === 'identify') &&
    typeof x.receivedAt === 'number'
  );
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UnreadableDeliveryMessage(`not JSON (${String(err)})`);
  }
}
