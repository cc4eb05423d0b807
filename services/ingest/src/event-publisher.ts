import type { IngestedRecord } from '@inkstream/contracts';
import { encodeJson, headersFrom, partitionOf, type JetStreamClient, type Topology } from '@inkstream/bus';
import { streamMessageId } from './event-key.js';

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

/**
 * Publishes accepted events to the ingest stream, one message per event on the subject of
 * the user's partition, and resolves only once JetStream has acknowledged every one of them.
 * Any failure rejects the whole call: the client is told 503 and retries, and the message ids
 * make the retry idempotent.
 */
export class EventPublisher {
  constructor(
    private readonly js: JetStreamClient,
    private readonly topology: Topology,
    /** NATS max_payload: larger messages are refused by the server. */
    private readonly maxMessageBytes: number,
  ) {}

  async publish(records: readonly IngestedRecord[], traceCarrier: Record<string, string | undefined> = {}): Promise<PublishResult> {
    // Checked before anything is published: the request is stored whole or not at all.
    const encoded = records.map((record) => encodeJson(record));
    for (const data of encoded) {
      if (data.length > this.maxMessageBytes - 1024) throw new EventTooLargeError(data.length, this.maxMessageBytes);
    }
    const acks = await Promise.all(
      records.map((record, i) => {
        // One headers object per message: publish adds the message id header to it.
        const headers = headersFrom(traceCarrier);
        return this.js.publish(this.topology.subjects.ingest(partitionOf(record.userKey)), encoded[i]!, {
          msgID: streamMessageId(record.projectId, record.eventKey),
          ...(headers ? { headers } : {}),
        });
      }),
    );
    let duplicates = 0;
    for (const ack of acks) if (ack.duplicate) duplicates++;
    return { stored: acks.length - duplicates, duplicates };
  }
}
