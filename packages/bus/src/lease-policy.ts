/**
 * The decisions of the lease manager, pure so they can be read and tested by a table.
 */

/**
 * Whether work on a lease may go on. A lease written at `renewedAt` (the time the write was
 * sent, so the server stored it no earlier) lasts until at least `renewedAt + ttl`; its work
 * stops `fenceMarginMs` before that, so it has stopped before anyone else can take the lease.
 */
export function leaseVerdict(renewedAt: number, now: number, ttlMs: number, fenceMarginMs: number): 'keep' | 'fence' {
  return now - renewedAt >= ttlMs - fenceMarginMs ? 'fence' : 'keep';
}

/**
 * What a failed renewal means: `lost` when the server refused it because the lease's revision
 * moved on (another replica wrote it, or it expired and is gone), `transient` for anything
 * else (timeouts, a reconnecting client, a leader election) — the lease is kept and renewed on
 * the next round, and the fence above bounds how long that can go on.
 */
export function renewalError(err: unknown): 'lost' | 'transient' {
  const e = err as { code?: number; api_error?: { err_code?: number }; message?: string } | undefined;
  // 10071: wrong last sequence (JetStream API error code of a failed compare-and-set).
  if (e?.code === 10071 || e?.api_error?.err_code === 10071) return 'lost';
  if (/wrong last sequence|key exists|not found/i.test(e?.message ?? '')) return 'lost';
  return 'transient';
}
