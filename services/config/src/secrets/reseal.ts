import { and, eq } from 'drizzle-orm';
import type { SecretBox } from '@inkstream/secret-box';
import type { Database } from '../db/database.js';
import { projects, syncs } from '../db/schema.js';
import { recordSyncChange } from '../syncs/record-change.js';
import type { StoredSealedValue } from './sealed-values.js';

/** Who the sync history names as the author of a re-seal. */
export const RESEAL_ACTOR = 'system (SECRET_KEY rotation)';

export interface ResealResult {
  projects: number;
  syncs: number;
}

/**
 * Re-seals under SECRET_KEY every value still sealed under SECRET_KEY_PREVIOUS. A project's api
 * key never leaves the database, so it is replaced in place. A live sync's sealed authorization
 * is in its snapshot, which delivery reads: it gets a new version, a history event (the
 * authorization "changed" from its mask to the same mask) and a snapshot in the outbox, so
 * delivery learns the new sealed value and SECRET_KEY_PREVIOUS can be dropped. A deleted sync is
 * re-sealed in place. Each write is conditional on the value it read (another replica, or an
 * admin, may have changed it meanwhile): what changed is left alone.
 */
export async function resealUnderCurrentKey(
  db: Database,
  secretBox: SecretBox,
  values: readonly StoredSealedValue[],
  now = new Date(),
): Promise<ResealResult> {
  const result: ResealResult = { projects: 0, syncs: 0 };
  for (const value of values) {
    if (value.key !== 'previous') continue;
    const resealed = secretBox.seal(secretBox.open(value.sealed));
    if (value.kind === 'project') {
      const updated = await db
        .update(projects)
        .set({ apiKeySealed: resealed })
        .where(and(eq(projects.id, value.id), eq(projects.apiKeySealed, value.sealed)))
        .returning({ id: projects.id });
      result.projects += updated.length;
      continue;
    }
    const done = await db.transaction(async (tx) => {
      const [current] = await tx.select().from(syncs).where(eq(syncs.id, value.id)).for('update');
      if (!current || current.authorizationSealed !== value.sealed) return false;
      if (current.deletedAt !== null) {
        await tx.update(syncs).set({ authorizationSealed: resealed }).where(eq(syncs.id, current.id));
        return true;
      }
      const [updated] = await tx
        .update(syncs)
        .set({ authorizationSealed: resealed, version: current.version + 1, updatedAt: now })
        .where(eq(syncs.id, current.id))
        .returning();
      await recordSyncChange(tx, updated!, {
        type: 'updated',
        changes: { authorization: { from: current.authorizationHint, to: updated!.authorizationHint } },
        actor: RESEAL_ACTOR,
        at: now,
      });
      return true;
    });
    if (done) result.syncs += 1;
  }
  return result;
}
