import { createHash } from 'node:crypto';

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
  const hash = createHash('sha256').update(projectId);
  for (const key of [...eventKeys].sort()) hash.update('\u0000').update(key);
  return hash.digest('base64url');
}
