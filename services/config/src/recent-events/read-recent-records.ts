import { DeliverPolicy } from '@nats-io/jetstream';
import { decodeJson, type Bus, type Topology } from '@inkstream/bus';
import { recordsOfIngestMessage, type IngestedRecord } from '@inkstream/contracts';

/** How far back in the ingest stream a look goes, in messages (segments) of every project. */
export const RECENT_SCAN_MESSAGES = 2000;

export interface RecentRecords {
  /** The project's records, newest first. */
  records: IngestedRecord[];
  /** Messages read from the stream (of every project). */
  scanned: number;
}

/**
 * The newest records of one project among the last `scan` messages of the ingest stream. The
 * ingest subjects are partitions, not projects, so the look is bounded by the stream's tail:
 * a project with few events among many others' may find fewer than `limit`, or none.
 */
export async function readRecentRecords(
  bus: Pick<Bus, 'js' | 'jsm'>,
  topology: Topology,
  projectId: string,
  options: { limit: number; scan?: number },
): Promise<RecentRecords> {
  const stream = topology.streams.ingest.name;
  const scan = options.scan ?? RECENT_SCAN_MESSAGES;
  const { state } = await bus.jsm.streams.info(stream);
  if (state.messages === 0) return { records: [], scanned: 0 };
  const start = Math.max(state.first_seq, state.last_seq - scan + 1);
  const consumer = await bus.js.consumers.get(stream, {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: start,
    // ms; the server removes the ephemeral consumer this long after the look.
    inactive_threshold: 10_000,
  });
  const pending = (await consumer.info(true)).num_pending;
  const wanted = Math.min(pending, scan);
  const mine: IngestedRecord[] = [];
  let scanned = 0;
  if (wanted > 0) {
    const messages = await consumer.fetch({ max_messages: wanted, expires: 10_000 });
    for await (const msg of messages) {
      scanned++;
      for (const record of readRecords(msg.data)) if (record.projectId === projectId) mine.push(record);
      if (scanned >= wanted || msg.info.pending === 0) break;
    }
  }
  return { records: mine.reverse().slice(0, options.limit), scanned };
}

/**
 * The records of a message: one for a v1 record, every record of a v2 segment (ingest writes one
 * per request and partition), none for a message that is neither (never an error for the reader).
 */
export function readRecords(data: Uint8Array): IngestedRecord[] {
  try {
    return recordsOfIngestMessage(decodeJson<unknown>(data));
  } catch {
    return [];
  }
}
