import type { IngestedRecord, SegmentRecord } from '@inkstream/contracts';
import { LeanPublisher, partitionOf, type MsgHdrs, type NatsConnection, type Topology } from '@inkstream/bus';
import { context, trace, type Context } from '@opentelemetry/api';
import { injectTraceContext, tracePublish } from '@inkstream/telemetry';
import { segmentMessageId } from './event-key.js';

/** An event that does not fit in one JetStream message (the server's max_payload). */
export class EventTooLargeError extends Error {
  constructor(readonly bytes: number, readonly limit: number) {
    super(`event of ${bytes} bytes exceeds the ${limit} bytes a JetStream message may hold`);
  }
}

export interface PublishResult {
  stored: number;
  duplicates: number;
}

/** Room kept in every segment for its headers (trace context, message id) and subject. */
export const SEGMENT_HEADROOM_BYTES = 1024;

/** One message to publish: consecutive records of one partition of one request. */
export interface Segment {
  partition: number;
  /** Event keys of its records (for the message id). */
  keys: string[];
  /** The segment's JSON. */
  data: Uint8Array;
}

/**
 * A record as ingest accepted it. `eventJson`: the event's JSON text as the client sent it, when
 * parsing that text again gives exactly `event` (accept-events.ts decides); the segment then
 * carries those bytes instead of serialising `event` again.
 */
export interface AcceptedRecord extends IngestedRecord {
  eventJson?: Uint8Array;
}

/** One record's JSON in a segment: whole, or a prefix followed by the event's own bytes and `}`. */
interface SegmentEntry {
  key: string;
  text: string;
  /** `text` is ASCII: one byte per character. */
  ascii: boolean;
  eventJson: Uint8Array | undefined;
  bytes: number;
}

/** Printable ASCII without `"` or `\`: JSON-quoted as it is, one byte per character. */
const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** One run of a partition's entries, `entries[first..end)`, as one segment of `bytes` bytes. */
interface Run {
  partition: number;
  entries: SegmentEntry[];
  first: number;
  end: number;
  bytes: number;
}

/**
 * Groups a request's records into segments (IngestedSegment, v2): one per partition the request
 * touches, records in request order, split into several consecutive runs when one would exceed
 * `maxBytes`. A record repeated in the request (same event key) is kept once: `duplicates`
 * counts the others. Throws EventTooLargeError, before anything is published, when one record
 * alone does not fit. The segments are views of one buffer per request (one allocation, not one
 * per segment).
 */
export function segmentsOf(records: readonly AcceptedRecord[], maxBytes: number, maxMessageBytes: number): { segments: Segment[]; duplicates: number } {
  if (records.length === 0) return { segments: [], duplicates: 0 };
  const { projectId, receivedAt } = records[0]!;
  const head = `{"v":2,"projectId":${JSON.stringify(projectId)},"receivedAt":${receivedAt},"records":[`;
  const headBytes = Buffer.byteLength(head);
  const envelopeBytes = headBytes + 2; // "]}"
  const seen = new Set<string>();
  let duplicates = 0;
  const byPartition = new Map<number, SegmentEntry[]>();
  // The kind is one of two constants: its check is not repeated per record.
  let plainKind: string | undefined;
  for (const record of records) {
    if (record.projectId !== projectId || record.receivedAt !== receivedAt) throw new Error('a segment holds records of one request only');
    const { eventKey } = record;
    if (seen.has(eventKey)) {
      duplicates++;
      continue;
    }
    seen.add(eventKey);
    const { eventJson, kind, userKey } = record;
    let entry: SegmentEntry;
    if (eventJson) {
      // What JSON.stringify of the SegmentRecord writes, with the event's bytes in place. Keys of
      // printable ASCII without quote or backslash (nearly all) are quoted as they are, and then
      // the text's length is its byte length.
      if (kind !== plainKind && PLAIN_ASCII.test(kind)) plainKind = kind;
      if (kind === plainKind && PLAIN_ASCII.test(eventKey) && PLAIN_ASCII.test(userKey)) {
        const text = `{"kind":"${kind}","eventKey":"${eventKey}","userKey":"${userKey}","event":`;
        entry = { key: eventKey, text, ascii: true, eventJson, bytes: text.length + eventJson.length + 1 };
      } else {
        const text = `{"kind":${JSON.stringify(kind)},"eventKey":${JSON.stringify(eventKey)},"userKey":${JSON.stringify(userKey)},"event":`;
        entry = { key: eventKey, text, ascii: false, eventJson, bytes: Buffer.byteLength(text) + eventJson.length + 1 };
      }
    } else {
      const segmentRecord: SegmentRecord = { kind, eventKey, userKey, event: record.event };
      const text = JSON.stringify(segmentRecord);
      entry = { key: eventKey, text, ascii: false, eventJson: undefined, bytes: Buffer.byteLength(text) };
    }
    if (envelopeBytes + entry.bytes > maxBytes) throw new EventTooLargeError(envelopeBytes + entry.bytes, maxMessageBytes);
    const partition = partitionOf(userKey);
    const list = byPartition.get(partition);
    if (list) list.push(entry);
    else byPartition.set(partition, [entry]);
  }
  // Where each segment ends, then every segment written into one buffer.
  const runs: Run[] = [];
  let total = 0;
  for (const [partition, entries] of byPartition) {
    let first = 0;
    let bytes = envelopeBytes;
    for (let k = 0; k < entries.length; k++) {
      const entry = entries[k]!;
      // +1 for the comma before every record but the first.
      if (k > first && bytes + entry.bytes + 1 > maxBytes) {
        runs.push({ partition, entries, first, end: k, bytes });
        total += bytes;
        first = k;
        bytes = envelopeBytes;
      }
      bytes += entry.bytes + (k > first ? 1 : 0);
    }
    runs.push({ partition, entries, first, end: entries.length, bytes });
    total += bytes;
  }
  const buffer = Buffer.allocUnsafe(total);
  const segments: Segment[] = [];
  let at = 0;
  for (const { partition, entries, first, end, bytes } of runs) {
    const start = at;
    at += buffer.write(head, at);
    const keys: string[] = [];
    for (let k = first; k < end; k++) {
      const e = entries[k]!;
      if (k > first) buffer[at++] = 0x2c; // ,
      at += e.ascii ? buffer.write(e.text, at, 'latin1') : buffer.write(e.text, at);
      if (e.eventJson) {
        buffer.set(e.eventJson, at);
        at += e.eventJson.length;
        buffer[at++] = 0x7d; // }
      }
      keys.push(e.key);
    }
    buffer[at++] = 0x5d; // ]
    buffer[at++] = 0x7d; // }
    if (at - start !== bytes) throw new Error(`segment of ${bytes} bytes written as ${at - start}`);
    segments.push({ partition, keys, data: buffer.subarray(start, at) });
  }
  return { segments, duplicates };
}

/**
 * Publishes a request's accepted events to the ingest stream as segments: one message per
 * partition the request touches (split when it would not fit one message), on the subject of
 * that partition, and resolves only once JetStream has acknowledged every segment. Any failure
 * rejects the whole call: the client is told 503 and retries, and the message ids make a
 * byte-identical retry idempotent (a retry that regroups the events is deduplicated by the
 * filter). Each segment publish is a PRODUCER span of the request's trace, whose context the
 * message carries in its headers to the filter. Publishing goes through a LeanPublisher (plain
 * publishes with a shared reply inbox).
 */
export class EventPublisher {
  private readonly lean: LeanPublisher;

  constructor(
    nc: NatsConnection,
    private readonly topology: Topology,
    /** NATS max_payload: larger messages are refused by the server. */
    private readonly maxMessageBytes: number,
    /** A publish not acknowledged within this fails (and with it the request: 503). */
    publishTimeoutMs = 5000,
  ) {
    this.lean = new LeanPublisher(nc, publishTimeoutMs);
  }

  /**
   * Not async itself: the records (and the parsed events they hold) are let go once the segments
   * are built, instead of being kept alive while the acknowledgements are awaited — a request's
   * parsed body would otherwise survive scavenges and be promoted for nothing.
   * `traceContext` is the request's (requestTraceContext): the segments carry it on.
   */
  publish(records: readonly AcceptedRecord[], traceContext: Context = context.active()): Promise<PublishResult> {
    if (records.length === 0) return Promise.resolve({ stored: 0, duplicates: 0 });
    let built: ReturnType<typeof segmentsOf>;
    try {
      // Built (and checked) before anything is published: the request is stored whole or not at all.
      built = segmentsOf(records, this.maxMessageBytes - SEGMENT_HEADROOM_BYTES, this.maxMessageBytes);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.publishSegments(records[0]!.projectId, built.segments, built.duplicates, traceContext);
  }

  private async publishSegments(projectId: string, segments: readonly Segment[], repeated: number, active: Context): Promise<PublishResult> {
    // A request whose span is not recorded (no exporter, or a client's unsampled traceparent)
    // would not record its PRODUCER spans either (the sampler follows the parent, or decides by
    // trace id as it did for the parent): each segment then carries the request's own context,
    // the same trace id, without the cost of a span per segment.
    const requestSpan = trace.getSpan(active);
    const unrecorded = requestSpan !== undefined && !requestSpan.isRecording();
    const acks = await Promise.all(
      segments.map((segment) => {
        const subject = this.topology.subjects.ingest(segment.partition);
        const msgID = segmentMessageId(projectId, segment.keys);
        const send = (headers: MsgHdrs | undefined) => this.lean.publish(subject, segment.data, { msgID, ...(headers ? { headers } : {}) });
        if (unrecorded) return send(injectTraceContext(active));
        return tracePublish({ subject, template: this.topology.subjectTemplates.ingest, messageId: msgID, bodySize: segment.data.length }, send, active);
      }),
    );
    let stored = 0;
    let duplicates = repeated;
    acks.forEach((ack, i) => {
      const n = segments[i]!.keys.length;
      if (ack.duplicate) duplicates += n;
      else stored += n;
    });
    return { stored, duplicates };
  }

  /** Fails what still waits for an acknowledgement and stops listening for them. */
  close(): void {
    this.lean.close();
  }
}
