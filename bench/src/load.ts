import { Pool } from 'undici';

export interface LoadResult {
  requests: number;
  failed: number;
  elapsedMs: number;
}

/**
 * Posts bodies as fast as the server answers, from `connections` concurrent keep-alive
 * connections, until `total` requests were answered 200 (or `deadlineMs` passes).
 */
export async function postAsFastAsPossible(options: {
  url: string;
  body: (i: number) => string;
  total: number;
  connections: number;
  onAccepted?: (i: number, at: number) => void;
  deadlineMs?: number;
}): Promise<LoadResult> {
  const url = new URL(options.url);
  const pool = new Pool(url.origin, { connections: options.connections, pipelining: 1 });
  let next = 0;
  let failed = 0;
  const deadline = Date.now() + (options.deadlineMs ?? 600_000);
  const started = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= options.total || Date.now() > deadline) return;
      for (;;) {
        const res = await pool.request({
          method: 'POST',
          path: url.pathname,
          headers: { 'content-type': 'application/json' },
          body: options.body(i),
        });
        await res.body.dump();
        if (res.statusCode === 200) {
          options.onAccepted?.(i, Date.now());
          break;
        }
        failed++;
        if (Date.now() > deadline) return;
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  const elapsedMs = performance.now() - started;
  await pool.close();
  return { requests: Math.min(next, options.total), failed, elapsedMs };
}

/** Posts `total` requests at a steady rate (requests per second). */
export async function postAtRate(options: {
  url: string;
  body: (i: number) => string;
  total: number;
  perSecond: number;
  onAccepted?: (i: number, at: number) => void;
}): Promise<LoadResult> {
  const url = new URL(options.url);
  const pool = new Pool(url.origin, { connections: 32 });
  const started = performance.now();
  let failed = 0;
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < options.total; i++) {
    const due = started + (i * 1000) / options.perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(
      (async () => {
        const res = await pool.request({ method: 'POST', path: url.pathname, headers: { 'content-type': 'application/json' }, body: options.body(i) });
        await res.body.dump();
        if (res.statusCode === 200) options.onAccepted?.(i, Date.now());
        else failed++;
      })(),
    );
  }
  await Promise.all(inFlight);
  const elapsedMs = performance.now() - started;
  await pool.close();
  return { requests: options.total, failed, elapsedMs };
}
