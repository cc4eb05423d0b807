import { createHash } from 'node:crypto';
import type { AmplitudeEvent } from '@inkstream/contracts';

/**
 * The key ingest gives an event, which the payload message_ids derive from: its `insert_id`
 * when it has one, otherwise a hash of the event as sent. The same rule as ingest's (which
 * keeps its own copy), so a previewed message_id is the one that would be sent.
 */
export function eventKeyOf(event: AmplitudeEvent): string {
  const insertId = event.insert_id;
  if (typeof insertId === 'string' && insertId.length > 0 && insertId.length <= 1024) return `i:${insertId}`;
  return `h:${createHash('sha256').update(JSON.stringify(event)).digest('base64url')}`;
}
