import { createHash } from 'node:crypto';

/** JetStream message id: per project, bounded length, header-safe. */
export function streamMessageId(projectId: string, eventKey: string): string {
  return createHash('sha256').update(`${projectId}\u0000${eventKey}`).digest('base64url');
}
