/**
 * How far behind the ingest stream's readers are, as last read from JetStream
 * (BacklogMonitor), and whether a request may add to it.
 */
export interface BacklogSnapshot {
  /** Events the filter's partition consumers have not finished: `num_pending + num_ack_pending`, summed. */
  messages: number;
  /** Bytes the ingest stream holds (everything retained, processed or not). */
  streamBytes: number;
  /** When it was read (ms since epoch). */
  readAt: number;
}

export interface BacklogLimits {
  /** 0: no bound. */
  maxMessages: number;
  /** 0: no bound. */
  maxStreamBytes: number;
  /** A snapshot older than this is not trusted (JetStream did not answer lately). */
  maxAgeMs: number;
}

export type BacklogVerdict = { admit: true } | { admit: false; reason: 'backlog' | 'stream_bytes' };

/**
 * Refuses when a bound is exceeded. Without a recent snapshot nothing is refused on its
 * account: if JetStream does not answer, publishing fails by itself (503), and a bound that
 * cannot be read must not stop intake for good.
 */
export function backlogVerdict(snapshot: BacklogSnapshot | undefined, limits: BacklogLimits, now: number): BacklogVerdict {
  if (!snapshot || now - snapshot.readAt > limits.maxAgeMs) return { admit: true };
  if (limits.maxMessages > 0 && snapshot.messages > limits.maxMessages) return { admit: false, reason: 'backlog' };
  if (limits.maxStreamBytes > 0 && snapshot.streamBytes > limits.maxStreamBytes) return { admit: false, reason: 'stream_bytes' };
  return { admit: true };
}
