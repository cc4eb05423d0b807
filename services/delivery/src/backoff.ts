/**
 * Delays between attempts. Quick tries first (Amplitude: 100 ms doubling with 50 % jitter,
 * within about 4 s), then durable retries with exponential backoff and full jitter.
 */
export const QUICK_TRIES = 3;

export function quickRetryDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = 100 * 2 ** attempt;
  return Math.round(base * (0.5 + random() * 0.5));
}

export interface DurableBackoff {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_DURABLE_BACKOFF: DurableBackoff = { baseMs: 10_000, capMs: 600_000 };

/** Full jitter: uniformly random in [base/2, min(cap, base·2^(n−1))]; never zero. */
export function durableRetryDelayMs(
  retry: number,
  backoff: DurableBackoff = DEFAULT_DURABLE_BACKOFF,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.max(0, retry - 1));
  const floor = Math.min(ceiling, backoff.baseMs / 2);
  return Math.round(floor + random() * (ceiling - floor));
}
