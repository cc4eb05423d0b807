import { and, asc, eq, inArray, notExists, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import type { OutcomeMessage } from '@inkstream/contracts';
import type { Database, Transaction } from '../db/database.js';
import {
  deliveryErrors,
  deliveryLatency,
  deliveryMinutes,
  deliveryPendingRetries,
  outcomeCheckpoints,
  syncs,
} from '../db/schema.js';
import { MAX_ERRORS_PER_SYNC, payloadKey, pendingCandidates, projectMessages, recordsOf, type ProjectedBatch } from './outcome-batch.js';

/** `column + excluded.column`: adds the counts of a conflicting insert to the stored row. */
const plusExcluded = (column: AnyColumn): SQL => sql`${column} + excluded.${sql.identifier(column.name)}`;

/** Rows per insert statement: far below Postgres' 65,535 parameters at ≤ 19 columns. */
const ROWS_PER_INSERT = 2_000;

export interface ApplyOptions {
  /**
   * The newest status time this projector applied per sync (it writes a status only when it
   * changes, so the stored status_at can be older): an outcome older than it never overrides
   * the status. Updated by applyOutcomes.
   */
  statusSeen?: Map<string, number>;
}

/**
 * Writes the changes a batch of outcome messages (v1 outcomes, v2 aggregates, mixed) makes to
 * the delivery views, set-based: one multi-row upsert per table, one lookup of the pending
 * retries the batch can touch, deletes only of pending rows that exist, and the sync status
 * only where it changes. The caller owns the transaction (and the checkpoint that goes with it).
 */
export async function applyOutcomes(tx: Transaction, messages: readonly OutcomeMessage[], options: ApplyOptions = {}): Promise<ProjectedBatch> {
  const pendingBefore = await pendingRowsOf(tx, pendingCandidates(recordsOf(messages)));
  const batch = projectMessages(messages, pendingBefore);

  const m = deliveryMinutes;
  for (const rows of chunks(batch.minutes)) {
    await tx
      .insert(m)
      .values(rows)
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
  for (const rows of chunks(batch.latency)) {
    await tx
      .insert(deliveryLatency)
      .values(rows)
      .onConflictDoUpdate({
        target: [deliveryLatency.syncId, deliveryLatency.minute, deliveryLatency.bucket],
        set: { count: plusExcluded(deliveryLatency.count) },
      });
  }

  if (batch.errors.length > 0) {
    for (const rows of chunks(batch.errors)) await tx.insert(deliveryErrors).values(rows);
    // The newest MAX_ERRORS_PER_SYNC of every sync that got errors are kept: one statement.
    const e = deliveryErrors;
    const errorSyncs = jsonParam([...new Set(batch.errors.map((x) => x.syncId))].map((s) => ({ s })));
    await tx.execute(sql`
      delete from ${e} where ${e.id} in (
        select id from (
          select ${e.id} as id, row_number() over (partition by ${e.syncId} order by ${e.at} desc, ${e.id} desc) as n
          from ${e} where ${e.syncId} in (select s from jsonb_to_recordset(${errorSyncs}::jsonb) as x(s uuid))
        ) ranked where n > ${MAX_ERRORS_PER_SYNC}
      )`);
  }

  const p = deliveryPendingRetries;
  if (batch.pendingDeletes.length > 0) {
    const keys = jsonParam(batch.pendingDeletes.map((d) => ({ s: d.syncId, m: d.messageId })));
    await tx.execute(
      sql`delete from ${p} where (${p.syncId}, ${p.messageId}) in (select s, m from jsonb_to_recordset(${keys}::jsonb) as x(s uuid, m text))`,
    );
  }
  for (const rows of chunks(batch.pendingUpserts)) {
    await tx
      .insert(p)
      .values(rows)
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

  await writeStatuses(tx, batch, options.statusSeen);
  return batch;
}

/**
 * The sync status, written only where it changes: the syncs a status fact or a settled
 * pending retry concerns are locked (in the order deleting a project locks them) and read in
 * one statement; a newer fact that says something else is written; a `retrying` sync whose
 * pending retries this batch ended is settled to healthy.
 */
async function writeStatuses(tx: Transaction, batch: ProjectedBatch, statusSeen: Map<string, number> | undefined): Promise<void> {
  const settleCandidates = new Set(batch.pendingDeletes.map((d) => d.syncId));
  const ids = [...new Set([...batch.statuses.map((s) => s.syncId), ...settleCandidates])];
  if (ids.length === 0) return;
  const rows = await tx
    .select({ id: syncs.id, state: syncs.statusState, lastError: syncs.statusLastError, at: syncs.statusAt })
    .from(syncs)
    .where(inArray(syncs.id, ids))
    .orderBy(asc(syncs.createdAt), asc(syncs.id))
    .for('update');
  const current = new Map(rows.map((row) => [row.id, row]));
  const toSettle: string[] = [];
  for (const status of batch.statuses) {
    const row = current.get(status.syncId);
    if (!row) continue; // Deleted since.
    const at = status.at.getTime();
    const newest = Math.max(row.at?.getTime() ?? Number.NEGATIVE_INFINITY, statusSeen?.get(status.syncId) ?? Number.NEGATIVE_INFINITY);
    if (at < newest) continue;
    statusSeen?.set(status.syncId, at);
    if (row.state === status.state && row.lastError === status.lastError) continue;
    // Not a change of the sync's configuration: no version, no history, no snapshot.
    await tx
      .update(syncs)
      .set({ statusState: status.state, statusLastError: status.lastError, statusAt: status.at })
      .where(eq(syncs.id, status.syncId));
    row.state = status.state;
    row.lastError = status.lastError;
    if (status.state === 'retrying') toSettle.push(status.syncId);
  }
  for (const syncId of settleCandidates) if (current.get(syncId)?.state === 'retrying') toSettle.push(syncId);
  if (toSettle.length > 0) await settleRetryingSyncs(tx, [...new Set(toSettle)]);
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

/** Which of these payloads have a pending-retry row: one statement. */
async function pendingRowsOf(tx: Transaction, keys: ReadonlyArray<{ syncId: string; messageId: string }>): Promise<Set<string>> {
  const found = new Set<string>();
  if (keys.length === 0) return found;
  const p = deliveryPendingRetries;
  const param = jsonParam(keys.map((k) => ({ s: k.syncId, m: k.messageId })));
  const rows = await tx
    .select({ syncId: p.syncId, messageId: p.messageId })
    .from(p)
    .where(sql`(${p.syncId}, ${p.messageId}) in (select s, m from jsonb_to_recordset(${param}::jsonb) as x(s uuid, m text))`);
  for (const row of rows) found.add(payloadKey(row.syncId, row.messageId));
  return found;
}

/** Many keys as one parameter (a JSON text), whatever their number. */
const jsonParam = (rows: unknown[]): string => JSON.stringify(rows);

function chunks<T>(rows: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) out.push(rows.slice(i, i + ROWS_PER_INSERT));
  return out;
}

/**
 * The last applied stream sequence of a consumer, locked until the transaction ends: one
 * statement (an upsert that creates the row the first time and locks it every time).
 */
export async function lockCheckpoint(tx: Transaction, consumer: string): Promise<number> {
  const [row] = await tx
    .insert(outcomeCheckpoints)
    .values({ consumer, lastSeq: 0 })
    .onConflictDoUpdate({ target: outcomeCheckpoints.consumer, set: { consumer: sql`excluded.consumer` } })
    .returning({ lastSeq: outcomeCheckpoints.lastSeq });
  return row!.lastSeq;
}

export async function saveCheckpoint(tx: Transaction, consumer: string, lastSeq: number): Promise<void> {
  await tx
    .update(outcomeCheckpoints)
    .set({ lastSeq, updatedAt: new Date() })
    .where(eq(outcomeCheckpoints.consumer, consumer));
}
