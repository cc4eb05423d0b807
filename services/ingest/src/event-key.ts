import { createHash, hash } from 'node:crypto';

/** JetStream message id of a v1 record (older versions): per project, bounded length, header-safe. */
export function streamMessageId(projectId: string, eventKey: string): string {
  return createHash('sha256').update(`${projectId}\u0000${eventKey}`).digest('base64url');
}

/**
 * JetStream message id of a segment: a hash of the project and its records' event keys, sorted
 * (so it does not depend on their order). A byte-identical retry of a request makes the same
 * segments, so each is dropped by the stream as a duplicate.
 */
export function segmentMessageId(projectId: string, eventKeys: readonly string[]): string {
  // One string hashed at once: the same bytes (and digest) as hashing the parts in turn.
  return hash('sha256', `${projectId}\u0000${[...eventKeys].sort().join('\u0000')}`, 'base64url');
}
