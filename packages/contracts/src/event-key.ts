import { createHash } from 'node:crypto';
import type { AmplitudeEvent } from './amplitude-event.js';

/**
 * The key that identifies an event (`IngestedRecord.eventKey`), for deduplication at ingest and
 * for the payload message ids: its `insert_id` when the client gave one (every Amplitude SDK
 * does), otherwise a hash of the event as sent, so an identical retry maps to the same key.
 * Ingest and the preview API both use it, so a previewed `message_id` is the one sent.
 */
export function eventKeyOf(event: AmplitudeEvent): string {
  const insertId = event.insert_id;
  if (typeof insertId === 'string' && insertId.length > 0 && insertId.length <= 1024) return `i:${insertId}`;
  return `h:${createHash('sha256').update(JSON.stringify(event)).digest('base64url')}`;
}
