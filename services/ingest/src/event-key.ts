import { createHash } from 'node:crypto';
import type { AmplitudeEvent } from '@inkstream/contracts';

/**
 * The key that identifies an event for deduplication and for the payload message ids:
 * its `insert_id` when the client gave one (every Amplitude SDK does), otherwise a hash of
 * the event as sent, so an identical retry maps to the same key.
 */
export function eventKeyOf(event: AmplitudeEvent): string {
  const insertId = event.insert_id;
  if (typeof insertId === 'string' && insertId.length > 0 && insertId.length <= 1024) return `i:${insertId}`;
  return `h:${createHash('sha256').update(JSON.stringify(event)).digest('base64url')}`;
}

/** JetStream message id: per project, bounded length, header-safe. */
export function streamMessageId(projectId: string, eventKey: string): string {
  return createHash('sha256').update(`${projectId}\u0000${eventKey}`).digest('base64url');
}
