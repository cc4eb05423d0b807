import { describe, expect, it } from 'vitest';
import type { DeliveryOutcome } from '@inkstream/contracts';
import { OTHER_SYNC as OTHER, OUTCOME_SYNC as SYNC, T0, v1OutcomeWith } from '@inkstream/contracts/testing';
import { latencyBucketOf } from './latency-histogram.js';
import { MAX_ERRORS_PER_SYNC, payloadKey, projectOutcomes, type MinuteCounters } from './outcome-batch.js';

const outcome = v1OutcomeWith({ at: T0 + 5_000 });
const zero: Omit<MinuteCounters, 'syncId' | 'minute'> = {
  delivered: 0, deliveredFirstAttempt: 0, deliveredAfterRetry: 0, expired: 0, discarded: 0, rejected: 0, dropped: 0,
  retried: 0, throttled: 0, failing: 0, attempts2xx: 0, attempts3xx: 0, attempts4xx: 0, attempts429: 0, attempts5xx: 0,
  attemptsError: 0, latencyMaxMs: 0,
};
const minute = (counters: Partial<MinuteCounters>, at = T0, syncId = SYNC): MinuteCounters => ({
  syncId,
  minute: new Date(Math.floor(at / 60_000) * 60_000),
  ...zero,
  ...counters,
});

describe('projectOutcomes', () => {
  it('counts a delivery on the first attempt, its latency, and forgets the payload', () => {
    const batch = projectOutcomes([outcome({})], new Set());
    expect(batch.minutes).toEqual([minute({ delivered: 1, deliveredFirstAttempt: 1, attempts2xx: 1, latencyMaxMs: 5_000 })]);
    expect(batch.latency).toEqual([{ syncId: SYNC, minute: new Date(T0), bucket: latencyBucketOf(5_000), count: 1 }]);
    // Not pending before: nothing to delete (only rows that exist are deleted).
    expect(batch.pendingDeletes).toEqual([]);
    expect(batch.pendingUpserts).toEqual([]);
    expect(batch.errors).toEqual([]);
    expect(batch.statuses).toEqual([{ syncId: SYNC, at: new Date(T0 + 5_000), state: 'healthy', lastError: null }]);
  });

  it.each<[string, DeliveryOutcome[], string[], Partial<MinuteCounters>]>([
    ['a later attempt', [outcome({ attempt: 3 })], [], { deliveredAfterRetry: 1 }],
    ['a retry earlier in the batch', [outcome({ result: 'retry', status: 503 }), outcome({ attempt: 2, at: T0 + 6_000 })], [], { deliveredAfterRetry: 1, retried: 1 }],
    // A 429 does not use up an attempt: the delivery after it is attempt 1 again, yet after a retry.
    ['a throttle earlier in the batch', [outcome({ result: 'throttled', status: 429 }), outcome({ at: T0 + 6_000 })], [], { deliveredAfterRetry: 1, throttled: 1 }],
    ['a failure projected in an earlier batch', [outcome({})], [payloadKey(SYNC, 'm1')], { deliveredAfterRetry: 1 }],
    ['another payload that failed', [outcome({})], [payloadKey(SYNC, 'm2'), payloadKey(OTHER, 'm1')], { deliveredFirstAttempt: 1 }],
  ])('counts a delivery after %s as after retry', (_name, outcomes, pendingBefore, expected) => {
    const [counters] = projectOutcomes(outcomes, new Set(pendingBefore)).minutes;
    expect(counters).toMatchObject({ delivered: 1, deliveredFirstAttempt: 0, deliveredAfterRetry: 0, ...expected });
  });

  it.each<[string, Partial<DeliveryOutcome>, Partial<MinuteCounters>, boolean]>([
    ['a 5xx', { result: 'retry', status: 503, error: 'HTTP 503' }, { retried: 1, attempts5xx: 1 }, true],
    ['a timeout', { result: 'retry', status: undefined, error: 'UND_ERR_HEADERS_TIMEOUT: Headers Timeout Error' }, { retried: 1, attemptsError: 1 }, true],
    ['a 429', { result: 'throttled', status: 429 }, { throttled: 1, attempts429: 1 }, true],
    ['a 401', { result: 'failing', status: 401 }, { failing: 1, attempts4xx: 1 }, true],
    ['a 400', { result: 'rejected', status: 400 }, { rejected: 1, attempts4xx: 1 }, false],
    ['an expiry', { result: 'expired', status: undefined, attempt: 9, reason: 'expired' }, { expired: 1 }, false],
    ['a deleted sync', { result: 'dropped', status: undefined, attempt: 2, reason: 'sync deleted' }, { dropped: 1 }, false],
  ])('counts %s', (_name, overrides, expected, pending) => {
    // Pending from an earlier batch: a final outcome settles it, a failure keeps it.
    const batch = projectOutcomes([outcome(overrides)], new Set([payloadKey(SYNC, 'm1')]));
    expect(batch.minutes).toEqual([minute(expected)]);
    expect(batch.latency).toEqual([]);
    expect(batch.pendingUpserts.length).toBe(pending ? 1 : 0);
    expect(batch.pendingDeletes.length).toBe(pending ? 0 : 1);
  });

  it('counts a discard but keeps no payload state for it', () => {
    const batch = projectOutcomes([outcome({ result: 'discarded', status: undefined, attempt: 0, reason: 'older than 30 days' })], new Set());
    expect(batch.minutes).toEqual([minute({ discarded: 1 })]);
    expect(batch.pendingDeletes).toEqual([]);
    expect(batch.pendingUpserts).toEqual([]);
    expect(batch.errors).toEqual([]);
    expect(batch.statuses).toEqual([]);
  });

  it('counts a payload delivery discarded (413 on its own) and settles it if it was pending', () => {
    const batch = projectOutcomes(
      [outcome({ result: 'retry', status: 503 }), outcome({ result: 'discarded', status: 413, attempt: 2, reason: 'too large' })],
      new Set([payloadKey(SYNC, 'm1')]),
    );
    expect(batch.minutes).toEqual([minute({ retried: 1, discarded: 1, attempts5xx: 1, attempts4xx: 1 })]);
    expect(batch.pendingUpserts).toEqual([]);
    expect(batch.pendingDeletes).toEqual([{ syncId: SYNC, messageId: 'm1' }]);
  });

  it('keeps a payload pending with its latest failure, from when it first failed', () => {
    const batch = projectOutcomes(
      [
        outcome({ result: 'retry', status: 503, attempt: 1, at: T0 + 1_000 }),
        outcome({ result: 'failing', status: 401, attempt: 2, at: T0 + 9_000 }),
      ],
      new Set(),
    );
    expect(batch.pendingUpserts).toEqual([
      { syncId: SYNC, messageId: 'm1', payloadType: 'track', result: 'failing', attempt: 2, status: 401, firstFailedAt: new Date(T0 + 1_000), lastAt: new Date(T0 + 9_000) },
    ]);
    expect(batch.pendingDeletes).toEqual([]);
  });

  it('records failed attempts as error samples', () => {
    const failed = outcome({ result: 'failing', status: 403, attempt: 2, error: 'HTTP 403', responseBody: '{"error":"forbidden"}', requestId: 'r-1', traceId: 't-1', payloadType: 'identify' });
    expect(projectOutcomes([failed], new Set()).errors).toEqual([
      {
        syncId: SYNC, at: new Date(failed.at), result: 'failing', status: 403, error: 'HTTP 403', responseBody: '{"error":"forbidden"}',
        requestId: 'r-1', attempt: 2, payloadType: 'identify', messageId: 'm1', traceId: 't-1',
      },
    ]);
  });

  it(`keeps only the newest ${MAX_ERRORS_PER_SYNC} error samples of a sync`, () => {
    const outcomes = Array.from({ length: MAX_ERRORS_PER_SYNC + 5 }, (_, i) => outcome({ result: 'retry', status: 500, messageId: `m${i}`, at: T0 + i }));
    const { errors } = projectOutcomes([...outcomes, outcome({ syncId: OTHER, result: 'retry', status: 500 })], new Set());
    const ofSync = errors.filter((e) => e.syncId === SYNC);
    expect(ofSync).toHaveLength(MAX_ERRORS_PER_SYNC);
    expect(ofSync[0]!.messageId).toBe('m5');
    expect(errors.filter((e) => e.syncId === OTHER)).toHaveLength(1);
  });

  it('splits counters by sync and minute', () => {
    const batch = projectOutcomes(
      [outcome({ at: T0 + 59_999 }), outcome({ messageId: 'm2', at: T0 + 60_000 }), outcome({ syncId: OTHER, at: T0 + 60_000 })],
      new Set(),
    );
    expect(batch.minutes.map((m) => [m.syncId, m.minute.getTime() - T0, m.delivered])).toEqual([
      [SYNC, 0, 1],
      [SYNC, 60_000, 1],
      [OTHER, 60_000, 1],
    ]);
  });

  it('takes the status from the latest attempt, not from the last message', () => {
    const batch = projectOutcomes(
      [
        outcome({ result: 'retry', status: 502, error: 'HTTP 502', responseBody: 'bad gateway', at: T0 + 2_000 }),
        outcome({ messageId: 'm2', at: T0 + 1_000 }),
        outcome({ messageId: 'm3', result: 'rejected', status: 400, at: T0 + 3_000 }),
      ],
      new Set(),
    );
    expect(batch.statuses).toEqual([{ syncId: SYNC, at: new Date(T0 + 2_000), state: 'retrying', lastError: 'HTTP 502: bad gateway' }]);
  });
});
