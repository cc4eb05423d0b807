import * as crypto from 'node:crypto';
import type { MovableInkPayload } from '@inkstream/contracts';

/** `crypto.hash` (Node ≥ 20.12): one call per digest, no Hash object (the filter makes one id per payload). */
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;
const sha256Hex = oneShot ? (text: string) => oneShot('sha256', text, 'hex') : (text: string) => crypto.createHash('sha256').update(text).digest('hex');

const HEX = '0123456789abcdef';
const DASH = 0x2d;
const EIGHT = 0x38;

/** Value of a lowercase hex digit's character code. */
const hexValue = (code: number): number => (code <= 0x39 ? code - 0x30 : code - 0x57);

/**
 * Stable id of one payload: the same event, sync and payload type always give the same id,
 * across retries, redeliveries and redrives. Formatted like a UUID (v8, name-based).
 */
export function messageIdFor(syncId: string, payloadType: MovableInkPayload['type'], eventKey: string): string {
  const h = sha256Hex(`${syncId}\u0000${payloadType}\u0000${eventKey}`);
  const c = (i: number): number => h.charCodeAt(i);
  const variant = HEX.charCodeAt((hexValue(c(16)) & 0x3) | 0x8);
  // One string from the digest's characters (the filter makes one id per payload): slices and
  // concatenations made about ten short-lived strings per id.
  return String.fromCharCode(
    c(0), c(1), c(2), c(3), c(4), c(5), c(6), c(7), DASH,
    c(8), c(9), c(10), c(11), DASH,
    EIGHT, c(13), c(14), c(15), DASH,
    variant, c(17), c(18), c(19), DASH,
    c(20), c(21), c(22), c(23), c(24), c(25), c(26), c(27), c(28), c(29), c(30), c(31),
  );
}
