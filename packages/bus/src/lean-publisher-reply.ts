import { JetStreamApiError } from '@nats-io/jetstream';

/** What JetStream answered a publish with (the fields inkstream reads). */
export interface LeanPubAck {
  stream: string;
  seq: number;
  /** True when the message id was already stored within the stream's duplicate window. */
  duplicate: boolean;
}

/**
 * No stream listens on the subject (the server answered "no responders", status 503): the
 * stream is missing, or JetStream is not enabled. The message says "no responders" so callers
 * that match on it (and people reading logs) recognise it.
 */
export class NoStreamForSubjectError extends Error {
  constructor(readonly subject: string) {
    super(`no responders: no JetStream stream stores '${subject}' (stream missing or JetStream not enabled)`);
    this.name = 'NoStreamForSubjectError';
  }
}

/** Not acknowledged within the publish timeout. The name matches nats.js's own TimeoutError. */
export class PublishTimeoutError extends Error {
  constructor(readonly subject: string, readonly timeoutMs: number) {
    super(`timeout: JetStream did not acknowledge a publish to '${subject}' within ${timeoutMs} ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * The connection was lost (or closed) while the publish waited for its acknowledgement: the
 * acknowledgement went to the old connection and will never come. The message may or may not
 * be stored; publishing it again with the same message id is safe.
 */
export class PublishInterruptedError extends Error {
  constructor(readonly subject: string, reason: string) {
    super(`publish to '${subject}' interrupted before its acknowledgement: ${reason}`);
    this.name = 'PublishInterruptedError';
  }
}

/** The status header of a reply, when it has one (nats.js parses `NATS/1.0 503`). */
export interface ReplyStatus {
  code: number;
  description: string;
}

export type ReplyVerdict = { ack: LeanPubAck } | { error: Error };

/**
 * What one reply on the shared inbox means for the publish it answers. Pure, so every shape
 * the server can send is a row in a table test:
 * - a status reply 503 ("no responders"): nothing stores the subject;
 * - another status (408, 5xx without a body): a JetStreamApiError with that status;
 * - a JSON body with `error` (`{code, err_code, description}`): a JetStreamApiError, whose
 *   `code` is the JetStream error code (10054 message too large, 10071 wrong last sequence…),
 *   as `js.publish()` throws;
 * - a JSON body with `stream` and `seq`: the acknowledgement;
 * - anything else: an error saying so (never a silent success).
 */
export function interpretPubAckReply(subject: string, data: Uint8Array, status: ReplyStatus | undefined): ReplyVerdict {
  if (status && status.code >= 300 && data.length === 0) {
    if (status.code === 503) return { error: new NoStreamForSubjectError(subject) };
    return {
      error: new JetStreamApiError({ code: status.code, err_code: 0, description: status.description || `status ${status.code}` }),
    };
  }
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(data));
  } catch {
    return { error: new Error(`unreadable JetStream acknowledgement for '${subject}'`) };
  }
  const reply = body as { error?: { code?: number; err_code?: number; description?: string }; stream?: unknown; seq?: unknown; duplicate?: unknown };
  if (reply && typeof reply === 'object' && reply.error && typeof reply.error === 'object') {
    return {
      error: new JetStreamApiError({
        code: typeof reply.error.code === 'number' ? reply.error.code : 500,
        err_code: typeof reply.error.err_code === 'number' ? reply.error.err_code : 0,
        description: typeof reply.error.description === 'string' ? reply.error.description : 'JetStream refused the message',
      }),
    };
  }
  if (reply && typeof reply === 'object' && typeof reply.stream === 'string' && reply.stream !== '' && typeof reply.seq === 'number') {
    return { ack: { stream: reply.stream, seq: reply.seq, duplicate: reply.duplicate === true } };
  }
  return { error: new Error(`invalid JetStream acknowledgement for '${subject}'`) };
}

const decoder = new TextDecoder();
