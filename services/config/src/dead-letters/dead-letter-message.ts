import type { DeadLetter } from '@inkstream/contracts';

const REASONS: ReadonlySet<string> = new Set(['rejected', 'expired', 'too large', 'sync deleted']);

/**
 * A dead letter as listing and redrive may trust it, or undefined. Delivery writes them; a
 * message that does not hold a job with a payload can be neither shown nor sent again.
 */
export function readDeadLetter(data: Uint8Array): DeadLetter | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  const letter = raw as Partial<DeadLetter> | null;
  const job = letter?.job;
  if (
    !letter ||
    typeof letter !== 'object' ||
    letter.v !== 1 ||
    typeof letter.reason !== 'string' ||
    !REASONS.has(letter.reason) ||
    typeof letter.deadAt !== 'number' ||
    typeof letter.attempts !== 'number' ||
    !job ||
    typeof job !== 'object' ||
    typeof job.syncId !== 'string' ||
    typeof job.messageId !== 'string' ||
    typeof job.userKey !== 'string' ||
    (job.payloadType !== 'track' && job.payloadType !== 'identify') ||
    typeof job.payload !== 'object' ||
    job.payload === null ||
    job.payload.type !== job.payloadType ||
    typeof job.payload.message_id !== 'string' ||
    typeof job.payload.timestamp !== 'number'
  ) {
    return undefined;
  }
  return letter as DeadLetter;
}
