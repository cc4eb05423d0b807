import type { ConfigContext } from '../context.js';
import { findSync } from '../syncs/find.js';
import { readDeadLetters } from './read-dead-letters.js';
import { toDeadLetterItem, type DeadLetterPage } from './resource.js';

/** A page of a sync's dead letters, oldest first (also of a deleted sync: they say what was dropped). */
export async function listDeadLetters(
  ctx: ConfigContext,
  input: { syncId: string; limit: number; cursor?: string | undefined },
): Promise<DeadLetterPage> {
  await findSync(ctx.db, input.syncId);
  const after = input.cursor === undefined ? 0 : Number(input.cursor);
  const page = await readDeadLetters(ctx.bus, ctx.topology, input.syncId, { after, limit: input.limit });
  return {
    items: page.letters.map(({ seq, letter }) => toDeadLetterItem(seq, letter)),
    nextCursor: page.more ? String(page.lastSeq) : null,
  };
}
