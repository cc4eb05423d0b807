import { describe, expect, it } from 'vitest';
import { DeliverySummary } from './delivery-summary.js';
import { captureLogs } from './testing/logs.js';

describe('DeliverySummary', () => {
  it('writes one info line per interval with counts, status classes, medians and the last error', async () => {
    const { lines, log } = captureLogs();
    let now = 0;
    const summary = new DeliverySummary(log, 10_000, () => now);
    for (let i = 0; i < 99; i++) {
      summary.request(200, i + 1, undefined);
      summary.attempt();
      summary.payload('delivered', 100 + i);
    }
    summary.request(503, 7, 'HTTP 503: down');
    summary.attempt();
    summary.payload('retry_scheduled');
    summary.payload('dead_lettered');
    now = 10_000;
    summary.write();
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      msg: 'delivery summary',
      seconds: 10,
      requests: 100,
      attempts: 100,
      statuses: { '2xx': 99, '5xx': 1 },
      delivered: 99,
      retry_scheduled: 1,
      dead_lettered: 1,
      throttled: 0,
      discarded: 0,
      perSecond: 10,
      p50RequestMs: 50,
      p50DeliveredMs: 149,
      lastError: 'HTTP 503: down',
    });
  });

  it('writes nothing for an interval without activity, and starts each interval afresh', async () => {
    const { lines, log } = captureLogs();
    let now = 0;
    const summary = new DeliverySummary(log, 10_000, () => now);
    now = 10_000;
    summary.write();
    summary.payload('throttled');
    now = 20_000;
    summary.write();
    now = 30_000;
    summary.stop();
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ throttled: 1, delivered: 0, requests: 0, statuses: {} });
    expect(lines[0]).not.toHaveProperty('p50RequestMs');
  });

  it('keeps a bounded sample however many requests an interval has', () => {
    const { log } = captureLogs('silent');
    const summary = new DeliverySummary(log, 10_000, () => 0);
    for (let i = 0; i < 200_000; i++) summary.request(200, i % 100, undefined);
    const kept = (summary as unknown as { requestMs: { values: number[] } }).requestMs.values.length;
    expect(kept).toBeLessThanOrEqual(512);
  });
});
