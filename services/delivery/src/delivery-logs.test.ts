import { describe, expect, it } from 'vitest';
import { waitFor } from '@inkstream/testing';
import { GOOD_AUTHORIZATION, useDeliveryHarness } from './testing/delivery-harness.js';
import { captureLogs } from './testing/logs.js';

/**
 * What delivery writes at `info` (LOG_LEVEL's default): a summary line per sync per interval
 * and the sync's state changes — never a line per attempt. Real NATS, a stand-in endpoint.
 */
describe('delivery logs at info', () => {
  const { lines, log } = captureLogs('info');
  const h = useDeliveryHarness({ baseMs: 100, capMs: 300 }, { logger: log, summaryIntervalMs: 300 }, { servicePerTest: false });

  it('summarises per interval and tells failing, probe, pause and resume, without a line per attempt', async () => {
    await h.startService();
    try {
      let sync = h.newSync({ maxConcurrency: 2 }, 'Basic d3Jvbmc6Y3JlZHM=');
      let throttled = 0;
      h.standIn.respondWith((r) => {
        if (r.headers.authorization !== GOOD_AUTHORIZATION) return { status: 401, body: '{"message":"bad credentials"}' };
        if (throttled++ < 2) return { status: 429, headers: { 'retry-after': '1' } };
        return { status: 200 };
      });
      await h.enqueue(sync, 12, { users: 3 });
      const ofSync = () => lines.filter((l) => l.sync === sync.id);
      await waitFor(() => ofSync().some((l) => l.level === 'warn' && String(l.msg).startsWith('sync failing')), 'the failing line');
      // A new authorization is probed at once.
      sync = h.change(sync, { authorizationSealed: h.secrets.seal(GOOD_AUTHORIZATION) });
      const delivered = () => ofSync().filter((l) => l.msg === 'delivery summary').reduce((n, l) => n + Number(l.delivered), 0);
      await waitFor(() => delivered() >= 12, 'summaries counting every payload delivered', 60_000);
    } finally {
      await h.stopService();
    }
    const mine = lines.filter((l) => typeof l.sync === 'string' && l.sync.startsWith('sync-'));
    const messages = mine.map((l) => String(l.msg));
    expect(messages).not.toContain('attempt');
    expect(messages).toEqual(
      expect.arrayContaining([
        'sync failing: the endpoint refused the credentials (401/403/404); probing every 30 s',
        'sync resumed: probe request accepted',
        'sync paused: the endpoint answered 429',
        'sync resumed after 429 pauses',
      ]),
    );
    const summaries = mine.filter((l) => l.msg === 'delivery summary');
    expect(summaries.reduce((n, l) => n + Number(l.delivered), 0)).toBe(12);
    const statuses = summaries.map((l) => l.statuses as Record<string, number>);
    expect(statuses.reduce((n, s) => n + (s['4xx'] ?? 0), 0)).toBeGreaterThan(0);
    expect(statuses.reduce((n, s) => n + (s['429'] ?? 0), 0)).toBe(2);
    // The last error of an interval: the 401 (with its body), or the 429 that followed it.
    expect(summaries.some((l) => /^HTTP (401: \{"message":"bad credentials"\}|429)/.test(String(l.lastError)))).toBe(true);
    expect(summaries.every((l) => l.level === 'info')).toBe(true);
    // Far fewer lines than attempts: at most one summary per interval plus the state changes.
    const attempts = summaries.reduce((n, l) => n + Number(l.attempts), 0);
    expect(attempts).toBeGreaterThanOrEqual(12);
  });
});
