import { DeliverPolicy } from '@nats-io/jetstream';
import type { Bus, Topology } from '@inkstream/bus';
import type { DeadLetter } from '@inkstream/contracts';
import { readDeadLetter } from './dead-letter-message.js';

export interface StoredDeadLetter {
  /** Sequence in the dead-letter stream. */
  seq: number;
  letter: DeadLetter;
}

export interface DeadLetterRead {
  letters: StoredDeadLetter[];
  /** Unreadable messages met on the way (left in the stream). */
  unreadable: number[];
  /** The sequence the page ended at: continue after it. */
  lastSeq: number;
  /** Whether the sync has dead letters after this page. */
  more: boolean;
}

/**
 * Reads a page of one sync's dead letters (the subject `<ns>.deadletter.<syncId>`), oldest
 * first, after the stream sequence `after`, through an ordered consumer: the stream is
 * shared by all syncs, and the consumer only sees this one's subject.
 */
export async function readDeadLetters(
  bus: Pick<Bus, 'js'>,
  topology: Topology,
  syncId: string,
  options: { after: number; limit: number },
): Promise<DeadLetterRead> {
  const consumer = await bus.js.consumers.get(topology.streams.deadLetters.name, {
    filter_subjects: topology.subjects.deadLetter(syncId),
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: options.after + 1,
    // ms; the server removes the ephemeral consumer this long after the page was read.
    inactive_threshold: 10_000,
  });
  const pending = (await consumer.info(true)).num_pending;
  const read: DeadLetterRead = { letters: [], unreadable: [], lastSeq: options.after, more: false };
  if (pending === 0) return read;
  const wanted = Math.min(pending, options.limit);
  const messages = await consumer.fetch({ max_messages: wanted, expires: 10_000 });
  let got = 0;
  for await (const msg of messages) {
    got++;
    read.lastSeq = msg.seq;
    const letter = readDeadLetter(msg.data);
    if (letter) read.letters.push({ seq: msg.seq, letter });
    else read.unreadable.push(msg.seq);
    read.more = msg.info.pending > 0;
    if (got >= wanted) break;
  }
  return read;
}
