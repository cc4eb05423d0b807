import * as crypto from 'node:crypto';
import type { MovableInkPayload } from '@inkstream/contracts';

/** `crypto.hash` (Node ≥ 20.12): one call per digest, no Hash object (the filter makes one id per payload). */
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;
const sha256Hex = oneShot ? (text: string) => oneShot('sha256', text, 'hex') : (text: string) => crypto.createHash('sha256').update(text).digest('hex');

/**
 * Stable id of one payload: the same event, sync and payload type always give the same id,
 * across retries, redeliveries and redrives. Formatted like a UUID (v8, name-based).
 */
export function messageIdFor(syncId: string, payloadType: MovableInkPayload['type'], eventKey: string): string {
  const h = sha256Hex(`${syncId}\u0000${payloadType}\u0000${eventKey}`);
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
