import { headTraceSuffix, segmentPrefix, sha256, writeSegment, type RoutedPayload } from '@inkstream/sync-routing';
import type { TraceCarrier } from '@inkstream/telemetry';

/**
 * The delivery stream's share of one ingest message: its routed payloads grouped per sync and
 * delivery partition into v2 delivery segments (`@inkstream/contracts` delivery-segment.ts), in
 * routing order (so each user's payloads keep their stream order), chunked so each message stays
 * under the server's max_payload. A chunk the server refuses for its size anyway (MAX_PAYLOAD, or
 * the stream's max_msg_size) is halved and retried; a single payload refused is given up
 * ('too large for NATS'). Each segment's Nats-Msg-Id is `s2:` + sha256 of the sync and its
 * payloads' message ids in order: payload ids are stable across retries, so a redelivered ingest
 * message regrouped the same way makes the same segments, and the stream drops the repeats.
 */

/** One (sync, partition) group of an outbox, payloads in routing order. */
export interface SegmentGroup {
  syncId: string;
  partition: number;
  payloads: RoutedPayload[];
}

/** Groups payloads per (sync, partition), groups in order of first appearance, payloads in the order given. */
export function groupPayloads(payloads: readonly RoutedPayload[], partitionOf: (userKey: string) => number): SegmentGroup[] {
  const out: SegmentGroup[] = [];
  // Groups per sync, then per partition (no key string per payload).
  const groups = new Map<string, Map<number, SegmentGroup>>();
  // Partitions per user key: one ingest message's users are usually on one partition anyway.
  const partitions = new Map<string, number>();
  for (const p of payloads) {
    let partition = partitions.get(p.userKey);
    if (partition === undefined) partitions.set(p.userKey, (partition = partitionOf(p.userKey)));
    let ofSync = groups.get(p.syncId);
    if (!ofSync) groups.set(p.syncId, (ofSync = new Map()));
    const group = ofSync.get(partition);
    if (group) group.payloads.push(p);
    else {
      const created = { syncId: p.syncId, partition, payloads: [p] };
      ofSync.set(partition, created);
      out.push(created);
    }
  }
  return out;
}

/**
 * Consecutive runs of `payloads` whose segments stay within `maxBytes`: a segment is its prefix,
 * each head with the trace suffix and a comma, `]}` and each payload's line. A payload too large
 * for a segment of its own still gets one (the server decides; routing discarded the ones it knew).
 */
export function chunkPayloads(payloads: readonly RoutedPayload[], prefixBytes: number, traceSuffixBytes: number, maxBytes: number): RoutedPayload[][] {
  const chunks: RoutedPayload[][] = [];
  let current: RoutedPayload[] = [];
  let bytes = prefixBytes + 2;
  for (const p of payloads) {
    // Its head (with the trace suffix and a comma) and its line (with the newline).
    const add = p.bytes + traceSuffixBytes + 2;
    if (current.length > 0 && bytes + add > maxBytes) {
      chunks.push(current);
      current = [];
      bytes = prefixBytes + 2;
    }
    current.push(p);
    bytes += add;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** The segment's Nats-Msg-Id: `s2:` + sha256 of the sync id and the payload message ids in order. */
export function segmentMessageId(syncId: string, payloads: readonly RoutedPayload[]): string {
  let text = syncId;
  for (const p of payloads) text += `\n${p.messageId}`;
  return `s2:${sha256(text, 'base64url')}`;
}

/** One segment to publish. */
export interface OutgoingSegment {
  syncId: string;
  partition: number;
  msgId: string;
  payloads: RoutedPayload[];
  data: Uint8Array;
  /**
   * The same segment with `trace` in its payload heads instead of the outbox's (the publish span's
   * own context, so delivery's spans are its children); `data` itself when `trace` would take a
   * different number of bytes than the chunking budgeted for.
   */
  withTrace: (trace: TraceCarrier | undefined) => Uint8Array;
}

export interface OutboxOptions {
  projectId: string;
  /** The event's trace context, carried by every payload head so delivery joins the event's trace. */
  trace: TraceCarrier | undefined;
  /** Largest message body: the server's max_payload less room for headers. */
  maxBytes: number;
  partitionOf: (userKey: string) => number;
  /** Publishes one segment (resolves once JetStream stored it, or knew its id). */
  send: (segment: OutgoingSegment) => Promise<void>;
  /** Whether a refused publish was refused for its size (retrying the same bytes cannot help). */
  tooLarge: (err: unknown) => boolean;
}

/**
 * What an outbox has done, kept across retries of its publish so nothing is published or counted
 * twice: segments stored, payloads queued (stored) and refused (too large even alone).
 */
export class OutboxProgress {
  readonly stored = new Set<string>();
  /** Payloads stored (a count: the payloads are not kept once published). */
  queued = 0;
  readonly refused: RoutedPayload[] = [];
  segments = 0;
}

/**
 * Publishes an ingest message's routed payloads as delivery segments: syncs and partitions side by
 * side, the segments of one (sync, partition) one after another in order. Throws the first
 * failure that is not about size (the caller retries; what is stored is remembered in `progress`).
 */
export async function publishOutbox(payloads: readonly RoutedPayload[], options: OutboxOptions, progress: OutboxProgress): Promise<void> {
  if (payloads.length === 0) return;
  const traceSuffix = headTraceSuffix(options.trace);
  const traceSuffixBytes = Buffer.byteLength(traceSuffix);
  const groups = groupPayloads(payloads, options.partitionOf);
  const one = async (group: SegmentGroup): Promise<void> => {
    const prefix = segmentPrefix(group.syncId, options.projectId);
    const prefixBytes = Buffer.byteLength(prefix);
    const send = async (chunk: RoutedPayload[]): Promise<void> => {
      const msgId = segmentMessageId(group.syncId, chunk);
      if (progress.stored.has(msgId)) return;
      const data = writeSegment(prefix, chunk, traceSuffix);
      const withTrace = (trace: TraceCarrier | undefined): Uint8Array => {
        const suffix = headTraceSuffix(trace);
        if (suffix === traceSuffix || Buffer.byteLength(suffix) !== traceSuffixBytes) return data;
        return writeSegment(prefix, chunk, suffix);
      };
      try {
        await options.send({ syncId: group.syncId, partition: group.partition, msgId, payloads: chunk, data, withTrace });
      } catch (err) {
        if (!options.tooLarge(err)) throw err;
        if (chunk.length === 1) {
          progress.stored.add(msgId);
          progress.refused.push(chunk[0]!);
          return;
        }
        // Halved, in order: the first half is stored before the second is sent.
        const half = Math.ceil(chunk.length / 2);
        await send(chunk.slice(0, half));
        await send(chunk.slice(half));
        progress.stored.add(msgId);
        return;
      }
      progress.stored.add(msgId);
      progress.segments++;
      progress.queued += chunk.length;
    };
    for (const chunk of chunkPayloads(group.payloads, prefixBytes, traceSuffixBytes, options.maxBytes)) await send(chunk);
  };
  if (groups.length === 1) return one(groups[0]!);
  // Every group runs to its end (what is stored is remembered) before the first failure is thrown.
  const results = await Promise.allSettled(groups.map(one));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
