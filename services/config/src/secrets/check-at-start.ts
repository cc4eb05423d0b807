import type { SecretBox } from '@inkstream/secret-box';
import type { Logger } from '@inkstream/service-kit';
import type { Database } from '../db/database.js';
import { judgeSecretKey, type SecretKeyVerdict } from './key-verdict.js';
import { resealUnderCurrentKey, type ResealResult } from './reseal.js';
import { readSealedValues } from './sealed-values.js';

/** SECRET_KEY is not the key of this database: the service must not start. */
export class SecretKeyMismatchError extends Error {
  override readonly name = 'SecretKeyMismatchError';
}

/**
 * At start, before anything is served or published: refuses a SECRET_KEY that opens none of the
 * stored secrets, reports the few it cannot open, and finishes a rotation by re-sealing what is
 * still under SECRET_KEY_PREVIOUS. Returns the verdict and what was re-sealed.
 */
export async function checkSecretKeyAtStart(
  db: Database,
  secretBox: SecretBox,
  logger: Logger,
): Promise<{ verdict: SecretKeyVerdict; resealed: ResealResult }> {
  const values = await readSealedValues(db, secretBox);
  const verdict = judgeSecretKey(values, secretBox.hasPreviousKey);
  if (!verdict.start) throw new SecretKeyMismatchError(verdict.problem);
  for (const note of verdict.notes) logger.warn(note);
  if (verdict.unreadable.length > 0) {
    logger.error(
      { unreadable: verdict.unreadable.slice(0, 50).map((v) => `${v.kind} ${v.id}`), count: verdict.unreadable.length },
      'secrets that SECRET_KEY cannot open',
    );
  }
  let resealed: ResealResult = { projects: 0, syncs: 0 };
  if (verdict.reseal > 0) {
    resealed = await resealUnderCurrentKey(db, secretBox, values);
    logger.info(
      resealed,
      'SECRET_KEY rotation: secrets sealed under SECRET_KEY_PREVIOUS re-sealed under SECRET_KEY; once delivery has the new ' +
        'sync snapshots (seconds), SECRET_KEY_PREVIOUS can be removed from config and delivery',
    );
  }
  return { verdict, resealed };
}
