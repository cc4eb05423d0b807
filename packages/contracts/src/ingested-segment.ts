import type { IngestedRecord } from './ingested-record.js';

/** One record of a segment: an IngestedRecord without what the segment carries once. */
export type SegmentRecord = Pick<IngestedRecord, 'kind' | 'eventKey' | 'userKey' | 'event'>;

/**
 * One message on the ingest stream since segments (v2): every record of one ingest request that
 * falls on one partition, in the request's order. The project and the receive time are those of
 * the request, stated once. A request whose records of one partition would exceed a message
 * (NATS max_payload less room for headers) is split into several segments, each a run of
 * consecutive records. The JetStream message id is a hash of the project and the sorted event
 * keys of its records, so a byte-identical retry of the request dedupes at the stream; a retry
 * that regroups events is deduplicated by the filter (per-user processed keys). The W3C trace
 * context of the ingest request travels in the NATS message headers.
 */
export interface IngestedSegment {
  v: 2;
  projectId: string;
  /** Server receive time of the request, epoch ms. */
  receivedAt: number;
  /** At least one. */
  records: SegmentRecord[];
}

/** What the ingest stream holds: v1 messages (one record each, older versions) and v2 segments. */
export type IngestMessage = IngestedRecord | IngestedSegment;

/** A message of the ingest stream that is neither a v1 record nor a v2 segment. */
export class UnreadableIngestMessage extends Error {
  constructor(reason: string) {
    super(`unreadable ingest message: ${reason}`);
    this.name = 'UnreadableIngestMessage';
  }
}

/**
 * The records of a decoded ingest message, in order: one for a v1 record, every record of a v2
 * segment (each as a full IngestedRecord, so the routing is the same for both). Throws
 * UnreadableIngestMessage for anything else.
 */
export function recordsOfIngestMessage(value: unknown): IngestedRecord[] {
  if (typeof value !== 'object' || value === null) throw new UnreadableIngestMessage('not an object');
  const message = value as Partial<IngestedSegment> & Partial<IngestedRecord> & { v?: unknown };
  if (typeof message.projectId !== 'string') throw new UnreadableIngestMessage('no projectId');
  if (message.v === 1) {
    if (!isRecordLike(message)) throw new UnreadableIngestMessage('v1 record without eventKey, userKey or event');
    return [message as IngestedRecord];
  }
  if (message.v === 2) {
    const { records, projectId, receivedAt } = message;
    if (!Array.isArray(records) || records.length === 0) throw new UnreadableIngestMessage('v2 segment without records');
    if (typeof receivedAt !== 'number') throw new UnreadableIngestMessage('v2 segment without receivedAt');
    return records.map((r: SegmentRecord) => {
      if (!isRecordLike(r)) throw new UnreadableIngestMessage('v2 segment record without eventKey, userKey or event');
      return { v: 1, kind: r.kind, projectId, receivedAt, eventKey: r.eventKey, userKey: r.userKey, event: r.event };
    });
  }
  throw new UnreadableIngestMessage(`unknown version ${String(message.v)}`);
}

function isRecordLike(r: unknown): boolean {
  if (typeof r !== 'object' || r === null) return false;
  const x = r as Partial<SegmentRecord>;
  return (
    (x.kind === 'event' || x.kind === 'identify') &&
    typeof x.eventKey === 'string' &&
    typeof x.userKey === 'string' &&
    typeof x.event === 'object' &&
    x.event !== null &&
    typeof (x.event as { event_type?: unknown }).event_type === 'string'
  );
}
