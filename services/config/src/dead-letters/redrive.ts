import { encodeJson, isNotFound, partitionOf } from '@inkstream/bus';
import type { ConfigContext } from '../context.js';
import { ConflictError } from '../errors.js';
import { findSync } from '../syncs/find.js';
import { readDeadLetter } from './dead-letter-message.js';
import { readDeadLetters, type StoredDeadLetter } from './read-dead-letters.js';
import { DEAD_LETTER_PAGE_MAX, type RedriveResult } from './resource.js';

/** Publishes in flight at once; publishes leave in order, so a user's payloads keep theirs. */
const REDRIVE_CHUNK = 100;

/**
 * Sends a sync's dead letters (all, or the listed ids) back to its delivery queue, unchanged —
 * same payload, same message_id, so Movable Ink can recognise a payload it already has — and
 * removes each from the dead letters once the delivery stream stored it. Letters of other
 * syncs are never touched: an id that is not a dead letter of this sync is reported as not
 * found. A deleted sync's letters stay readable but cannot be sent again.
 */
export async function redriveDeadLetters(ctx: ConfigContext, input: { syncId: string; ids?: string[] | undefined }): Promise<RedriveResult> {
  const sync = await findSync(ctx.db, input.syncId);
  if (sync.deletedAt !== null) throw new ConflictError(`sync ${sync.id} is deleted; its dead letters can be read but not redriven`);
  const stream = ctx.topology.streams.deadLetters.name;

  if (input.ids !== undefined) {
    const found: StoredDeadLetter[] = [];
    const notFound: string[] = [];
    for (const id of input.ids) {
      const stored = await getStored(ctx, stream, Number(id));
      const letter = stored && stored.subject === ctx.topology.subjects.deadLetter(sync.id) ? readDeadLetter(stored.data) : undefined;
      if (letter) found.push({ seq: Number(id), letter });
      else notFound.push(id);
    }
    found.sort((a, b) => a.seq - b.seq);
    return { redriven: await sendAgain(ctx, sync.id, found), notFound };
  }

  // Letters that fail again while this runs come back with higher sequences: not this time round.
  const upTo = (await ctx.bus.jsm.streams.info(stream)).state.last_seq;
  let redriven = 0;
  for (let after = 0; after < upTo; ) {
    const page = await readDeadLetters(ctx.bus, ctx.topology, sync.id, { after, limit: DEAD_LETTER_PAGE_MAX });
    redriven += await sendAgain(ctx, sync.id, page.letters.filter((l) => l.seq <= upTo));
    if (!page.more || page.lastSeq === after) break;
    after = page.lastSeq;
  }
  return { redriven, notFound: [] };
}

async function getStored(ctx: ConfigContext, stream: string, seq: number) {
  try {
    return await ctx.bus.jsm.streams.getMessage(stream, { seq });
  } catch (err) {
    if (isNotFound(err) || /no message found/i.test(String(err))) return null;
    throw err;
  }
}

/** Republishes the letters' jobs in order, then deletes them; returns how many this call moved. */
async function sendAgain(ctx: ConfigContext, syncId: string, letters: readonly StoredDeadLetter[]): Promise<number> {
  const { js, jsm } = ctx.bus;
  const stream = ctx.topology.streams.deadLetters.name;
  let moved = 0;
  for (let i = 0; i < letters.length; i += REDRIVE_CHUNK) {
    const chunk = letters.slice(i, i + REDRIVE_CHUNK);
    const results = await Promise.all(
      chunk.map(async ({ seq, letter }) => {
        const { job } = letter;
        // The msgID includes the letter's sequence: a repeated redrive of the same letter is one
        // delivery, a payload that died again and is redriven again is a new one.
        await js.publish(ctx.topology.subjects.delivery(syncId, partitionOf(job.userKey)), encodeJson(job), {
          msgID: `${job.messageId}:redrive:${seq}`,
        });
        try {
          return await jsm.streams.deleteMessage(stream, seq, false);
        } catch (err) {
          // Removed meanwhile by a concurrent redrive, whose publish this one's repeated.
          if (isNotFound(err) || /no message found/i.test(String(err))) return false;
          throw err;
        }
      }),
    );
    moved += results.filter(Boolean).length;
  }
  return moved;
}
