import type { Logger } from '@inkstream/service-kit';

/**
 * Runs a step that must happen before a payload may move on (storing its retry state or its dead
 * letter, reading its retry state) until it succeeds, backing off 100 ms doubling to 5 s. The
 * payload waits meanwhile — unacknowledged, its user's later payloads behind it — so a failing
 * KV or stream never loses a payload or breaks an order. `ok: false` only when stopped.
 */
export async function durably<T>(
  step: () => Promise<T>,
  signal: AbortSignal,
  log: Pick<Logger, 'warn'>,
  what: string,
): Promise<{ ok: true; value: T } | { ok: false }> {
  for (let attempt = 0; ; attempt++) {
    if (signal.aborted) return { ok: false };
    try {
      return { ok: true, value: await step() };
    } catch (err) {
      log.warn({ attempt, err: String(err) }, `${what} failed; trying again`);
      if (!(await sleepUnlessAborted(Math.min(100 * 2 ** attempt, 5_000), signal))) return { ok: false };
    }
  }
}

/** Sleeps; false when `signal` aborted first. */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (completed: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(completed);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), Math.max(0, ms));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
