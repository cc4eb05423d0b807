import { and, asc, desc, eq, inArray, isNull, lte, notExists, or, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import type { DeliveryOutcome } from '@inkstream/contracts';
import type { Database, Transaction } from '../db/database.js';
import {
  deliveryErrors,
  deliveryLatency,
  deliveryMinutes,
  deliveryPendingRetries,
  outcomeCheckpoints,
  syncs,
} from '../db/schema.js';
import { MAX_ERRORS_PER_SYNC, payloadKey, projectOutcomes, type ProjectedBatch } from './outcome-batch.js';

/** `column + excluded.column`: adds the counts of a conflicting insert to the stored row. */
const plusExcluded = (column: AnyColumn): SQL => sql`${column} + excluded.${sql.identifier(column.name)}`;

/**
 * Writes the changes a batch of outcomes makes to the delivery views; the caller owns the
 * transaction (and the checkpoint that goes with it).
 */
export async function applyOutcomes(tx: Transaction, outcomes: readonly DeliveryOutcome[]): Promise<ProjectedBatch> {
  const batch = projectOutcomes(outcomes, await pendingBeforeDelivery(tx, outcomes));

  if (batch.minutes.length > 0) {
    const m = deliveryMinutes;
    await tx
      .insert(m)
      .values(batch.minutes)
      .onConflictDoUpdate({
        target: [m.syncId, m.minute],
        set: {
          delivered: plusExcluded(m.delivered),
          deliveredFirstAttempt: plusExcluded(m.deliveredFirstAttempt),
          deliveredAfterRetry: plusExcluded(m.deliveredAfterRetry),
          expired: plusExcluded(m.expired),
          discarded: plusExcluded(m.discarded),
          rejected: plusExcluded(m.rejected),
          dropped: plusExcluded(m.dropped),
          retried: plusExcluded(m.retried),
          throttled: plusExcluded(m.throttled),
          failing: plusExcluded(m.failing),
          attempts2xx: plusExcluded(m.attempts2xx),
          attempts3xx: plusExcluded(m.attempts3xx),
          attempts4xx: plusExcluded(m.attempts4xx),
          attempts429: plusExcluded(m.attempts429),
          attempts5xx: plusExcluded(m.attempts5xx),
          attemptsError: plusExcluded(m.attemptsError),
          latencyMaxMs: sql`greatest(${m.latencyMaxMs}, excluded.latency_max_ms)`,
        },
      });
  }
  if (batch.latency.length > 0) {
    await tx
      .insert(deliveryLatency)
      .values(batch.latency)
      .onConflictDoUpdate({
        target: [deliveryLatency.syncId, deliveryLatency.minute, deliveryLatency.bucket],
        set: { count: plusExcluded(deliveryLatency.count) },
      });
  }

  if (batch.errors.length > 0) {
    await tx.insert(deliveryErrors).values(batch.errors);
    for (const syncId of new Set(batch.errors.map((e) => e.syncId))) {
      const beyondNewest = tx
        .select({ id: deliveryErrors.id })
        .from(deliveryErrors)
        .where(eq(deliveryErrors.syncId, syncId))
        .orderBy(desc(deliveryErrors.at), desc(deliveryErrors.id))
        .offset(MAX_ERRORS_PER_SYNC);
      await tx.delete(deliveryErrors).where(and(eq(deliveryErrors.syncId, syncId), inArray(deliveryErrors.id, beyondNewest)));
    }
  }

  const p = deliveryPendingRetries;
  for (const [syncId, messageIds] of bySync(batch.pendingDeletes)) {
    await tx.delete(p).where(and(eq(p.syncId, syncId), inArray(p.messageId, messageIds)));
  }
  if (batch.pendingUpserts.length > 0) {
    await tx
      .insert(p)
      .values(batch.pendingUpserts)
      .onConflictDoUpdate({
        target: [p.syncId, p.messageId],
        set: {
          payloadType: sql`excluded.payload_type`,
          result: sql`excluded.result`,
          attempt: sql`excluded.attempt`,
          status: sql`excluded.status`,
          firstFailedAt: sql`least(${p.firstFailedAt}, excluded.first_failed_at)`,
          lastAt: sql`greatest(${p.lastAt}, excluded.last_at)`,
        },
      });
  }

  const touched = [...new Set(outcomes.map((o) => o.syncId))];
  if (touched.length === 0) return batch;
  await lockSyncsInOrder(tx, touched);
  for (const status of batch.statuses) {
    // Not a change of the sync's configuration: no version, no history, no snapshot.
    await tx
      .update(syncs)
      .set({ statusState: status.state, statusLastError: status.lastError, statusAt: status.at })
      .where(and(eq(syncs.id, status.syncId), or(isNull(syncs.statusAt), lte(syncs.statusAt, status.at))));
  }
  await settleRetryingSyncs(tx, touched);
  return batch;
}

/**
 * Row locks on several syncs, taken in the order deleting a project takes them (created_at,
 * id), so the two never wait for each other in a circle.
 */
async function lockSyncsInOrder(tx: Transaction, ids: readonly string[]): Promise<string[]> {
  const rows = await tx
    .select({ id: syncs.id })
    .from(syncs)
    .where(inArray(syncs.id, [...ids]))
    .orderBy(asc(syncs.createdAt), asc(syncs.id))
    .for('update');
  return rows.map((row) => row.id);
}

/**
 * A sync is `retrying` while payloads wait for another attempt; once none is left (delivered,
 * expired, dropped) it is healthy again. Its last error stays for reference. Without ids, every
 * sync is looked at (in a transaction of its own).
 */
export async function settleRetryingSyncs(db: Database | Transaction, syncIds?: readonly string[]): Promise<void> {
  const p = deliveryPendingRetries;
  const settled = and(eq(syncs.statusState, 'retrying'), notExists(db.select({ one: sql`1` }).from(p).where(eq(p.syncId, syncs.id))));
  if (syncIds) {
    await db.update(syncs).set({ statusState: 'healthy' }).where(and(inArray(syncs.id, [...syncIds]), settled));
    return;
  }
  await db.transaction(async (tx) => {
    const candidates = await tx.select({ id: syncs.id }).from(syncs).where(settled);
    if (candidates.length === 0) return;
    const locked = await lockSyncsInOrder(tx, candidates.map((c) => c.id));
    await tx.update(syncs).set({ statusState: 'healthy' }).where(and(inArray(syncs.id, locked), settled));
  });
}

/** Keys of the payloads delivered on their first attempt here that an earlier batch saw fail. */
async function pendingBeforeDelivery(tx: Transaction, outcomes: readonly DeliveryOutcome[]): Promise<Set<string>> {
  const candidates = outcomes.filter((o) => o.result === 'delivered' && o.attempt <= 1);
  const found = new Set<string>();
  const p = deliveryPendingRetries;
  for (const [syncId, messageIds] of bySync(candidates)) {
    const rows = await tx
      .select({ messageId: p.messageId })
      .from(p)
      .where(and(eq(p.syncId, syncId), inArray(p.messageId, messageIds)));
    for (const row of rows) found.add(payloadKey(syncId, row.messageId));
  }
  return found;
}

function bySync(items: ReadonlyArray<{ syncId: string; messageId: string }>): Map<string, string[]> {
  const sets = new Map<string, Set<string>>();
  for (const { syncId, messageId } of items) {
    let ids = sets.get(syncId);
    if (!ids) sets.set(syncId, (ids = new Set()));
    ids.add(messageId);
  }
  return new Map([...sets].map(([syncId, ids]) => [syncId, [...ids]]));
}

/** The last applied stream sequence of a consumer, locked until the transaction ends. */
export async function lockCheckpoint(tx: Transaction, consumer: string): Promise<number> {
  await tx.insert(outcomeCheckpoints).values({ consumer, lastSeq: 0 }).onConflictDoNothing();
  const [row] = await tx.select().from(outcomeCheckpoints).where(eq(outcomeCheckpoints.consumer, consumer)).for('update');
  return row!.lastSeq;
}

export async function saveCheckpoint(tx: Transaction, consumer: string, lastSeq: number): Promise<void> {
  await tx
    .update(outcomeCheckpoints)
    .set({ lastSeq, updatedAt: new Date() })
    .where(eq(outcomeCheckpoints.consumer, consumer));
}
