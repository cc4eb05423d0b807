import { describe, expect, it } from 'vitest';
import { OUTCOME_SAMPLE_LIMIT, latencyBucketOf, outcomesIn, type DeliveryOutcome } from './delivery-outcome.js';
import { OutcomeAggregator } from './outcome-aggregator.js';
import { OTHER_SYNC as OTHER, OUTCOME_SYNC as SYNC, T0, v1OutcomeWith } from './testing/index.js';

const outcome = v1OutcomeWith({ requestMs: 5 });

describe('OutcomeAggregator', () => {
  it('folds N first-attempt deliveries of a sync into one message with their counts and latency', () => {
    const agg = new OutcomeAggregator();
    for (let i = 0; i < 500; i++) agg.add(outcome({ messageId: `m${i}`, payloadType: i % 5 === 0 ? 'identify' : 'track', at: T0 + 1_000 + i, receivedAt: T0 + 1_000 }));
    const [message, ...more] = agg.take();
    expect(more).toEqual([]);
    expect(message).toMatchObject({ v: 2, syncId: SYNC, from: T0 + 1_000, to: T0 + 1_499, payloads: [] });
    expect(message!.minutes).toEqual([
      {
        minute: T0,
        results: { delivered: 500 },
        deliveredFirstAttempt: 500,
        deliveredAfterRetry: 0,
        payloadTypes: { track: 400, identify: 100 },
        attempts: { '2xx': 500 },
        // 0…499 ms: ≤ 10 (11), ≤ 25 (15), ≤ 50 (25), ≤ 100 (50), ≤ 250 (150), ≤ 500 (249).
        latency: [
          [latencyBucketOf(10), 11],
          [latencyBucketOf(25), 15],
          [latencyBucketOf(50), 25],
          [latencyBucketOf(100), 50],
          [latencyBucketOf(250), 150],
          [latencyBucketOf(500), 249],
        ],
        latencyMaxMs: 499,
      },
    ]);
    expect(message!.samples).toHaveLength(OUTCOME_SAMPLE_LIMIT);
    expect(message!.status).toEqual({ state: 'healthy', at: T0 + 1_499 });
    expect(agg.take()).toEqual([]);
  });

  it('keeps one message per sync and splits the counters by minute', () => {
    const agg = new OutcomeAggregator();
    agg.add(outcome({ at: T0 + 59_999 }));
    agg.add(outcome({ messageId: 'm2', at: T0 + 60_000 }));
    agg.add(outcome({ syncId: OTHER }));
    const messages = agg.take();
    expect(messages.map((m) => [m.syncId, m.minutes.map((x) => [x.minute - T0, x.results.delivered])])).toEqual([
      [SYNC, [[0, 1], [60_000, 1]]],
      [OTHER, [[0, 1]]],
    ]);
  });

  it('lists every failure as a record of its own, not in the counts', () => {
    const agg = new OutcomeAggregator();
    const failures: DeliveryOutcome[] = [
      outcome({ messageId: 'a', result: 'retry', status: 503, error: 'HTTP 503', responseBody: 'busy', at: T0 + 1_000 }),
      outcome({ messageId: 'b', result: 'throttled', status: 429, error: 'HTTP 429', at: T0 + 1_001 }),
      outcome({ messageId: 'c', result: 'failing', status: 401, error: 'HTTP 401', at: T0 + 1_002 }),
      outcome({ messageId: 'd', result: 'rejected', status: 400, error: 'HTTP 400', at: T0 + 1_003 }),
      outcome({ messageId: 'e', result: 'expired', status: undefined, attempt: 7, reason: 'expired', at: T0 + 1_004 }),
      outcome({ messageId: 'f', result: 'dropped', status: undefined, attempt: 2, reason: 'sync deleted', at: T0 + 1_005 }),
      outcome({ messageId: 'g', result: 'discarded', status: undefined, attempt: 0, reason: 'older than 30 days', at: T0 + 1_006 }),
    ];
    for (const f of failures) agg.add(f);
    agg.add(outcome({ messageId: 'ok', at: T0 + 900 }));
    const [message] = agg.take();
    expect(message!.payloads).toEqual(failures.map(({ v: _v, syncId: _s, ...record }) => record));
    expect(message!.minutes).toEqual([expect.objectContaining({ results: { delivered: 1 }, deliveredFirstAttempt: 1 })]);
    // The newest fact about the endpoint: the 401.
    expect(message!.status).toEqual({ state: 'failing', at: T0 + 1_002, status: 401, error: 'HTTP 401' });
    expect(outcomesIn(message!).map((o) => o.messageId)).toEqual(['ok', 'a', 'b', 'c', 'd', 'e', 'f', 'g']);
  });

  it('lists the delivery of a payload that failed or was throttled here, or that is not on its first attempt', () => {
    const agg = new OutcomeAggregator();
    agg.add(outcome({ messageId: 'retried', result: 'retry', status: 503 }));
    agg.take(); // sent in an earlier message
    agg.add(outcome({ messageId: 'retried', attempt: 2 }));
    agg.add(outcome({ messageId: 'throttled', result: 'throttled', status: 429 }));
    agg.add(outcome({ messageId: 'throttled', attempt: 1, at: T0 + 2_000 }));
    agg.add(outcome({ messageId: 'elsewhere', attempt: 3 }));
    agg.add(outcome({ messageId: 'plain' }));
    const [message] = agg.take();
    expect(message!.payloads.map((p) => [p.messageId, p.result])).toEqual([
      ['retried', 'delivered'],
      ['throttled', 'throttled'],
      ['throttled', 'delivered'],
      ['elsewhere', 'delivered'],
    ]);
    expect(message!.minutes[0]!.results).toEqual({ delivered: 1 });
    // Settled: a later first-attempt delivery of the same id (a duplicate) is counted again.
    agg.add(outcome({ messageId: 'throttled', at: T0 + 3_000 }));
    expect(agg.take()[0]!.payloads).toEqual([]);
  });

  it('forgets the oldest failed payloads beyond its bound', () => {
    const agg = new OutcomeAggregator({ rememberFailed: 2 });
    for (const id of ['a', 'b', 'c']) agg.add(outcome({ messageId: id, result: 'retry', status: 500 }));
    agg.take();
    for (const id of ['a', 'b', 'c']) agg.add(outcome({ messageId: id }));
    expect(agg.take()[0]!.payloads.map((p) => p.messageId)).toEqual(['b', 'c']);
  });

  it('says when a sync’s records are large enough to be sent at once', () => {
    const agg = new OutcomeAggregator({ maxMessageBytes: 15_000 });
    const big = (i: number) => outcome({ messageId: `m${i}`, result: 'retry', status: 500, error: 'x'.repeat(2_000), responseBody: 'y'.repeat(2_000) });
    expect(agg.add(big(1))).toBe(false);
    expect(agg.add(big(2))).toBe(true);
    expect(agg.take(OTHER)).toEqual([]);
    expect(agg.take(SYNC)).toHaveLength(1);
    expect(agg.size).toBe(0);
  });
});
