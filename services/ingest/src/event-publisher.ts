import type { IngestedRecord } from '@inkstream/contracts';
import { encodeJson, partitionOf, type JetStreamClient, type Topology } from '@inkstream/bus';
import { tracePublish } from '@inkstream/telemetry';
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
 * make the retry idempotent. Each publish is a PRODUCER span of the request's trace, whose
 * context the message carries in its headers to the filter.
 */
export class EventPublisher {
  constructor(
    private readonly js: JetStreamClient,
    private readonly topology: Topology,
    /** NATS max_payload: larger messages are refused by the server. */
    private readonly maxMessageBytes: number,
    /** A publish not acknowledged within this fails (and with it the request: 503). */
    private readonly publishTimeoutMs = 5000,
  ) {}

  async publish(records: readonly IngestedRecord[]): Promise<PublishResult> {
    // Checked before anything is published: the request is stored whole or not at all.
    const encoded = records.map((record) => encodeJson(record));
    for (const data of encoded) {
      if (data.length > this.maxMessageBytes - 1024) throw new EventTooLargeError(data.length, this.maxMessageBytes);
    }
    const acks = await Promise.all(
      records.map((record, i) => {
        const subject = this.topology.subjects.ingest(partitionOf(record.userKey));
        const msgID = streamMessageId(record.projectId, record.eventKey);
        const data = encoded[i]!;
        return tracePublish({ subject, template: this.topology.subjectTemplates.ingest, messageId: msgID, bodySize: data.length }, (headers) =>
          // One headers object per message: publish adds the message id header to it.
          this.js.publish(subject, data, { msgID, timeout: this.publishTimeoutMs, ...(headers ? { headers } : {}) }),
        );
      }),
    );
    let duplicates = 0;
    for (const ack of acks) if (ack.duplicate) duplicates++;
    return { stored: acks.length - duplicates, duplicates };
  }
}
