import { describe, expect, it } from 'vitest';
import type { DeliveryOutcome } from '@inkstream/contracts';
import { readOutcomeMessage } from './outcome-message.js';

const valid: DeliveryOutcome = {
  v: 1,
  syncId: '22222222-2222-4222-8222-222222222222',
  messageId: 'm-1',
  payloadType: 'track',
  result: 'retry',
  status: 503,
  attempt: 2,
  at: 1_767_225_600_000,
  receivedAt: 1_767_225_599_000,
  requestMs: 12,
  error: 'HTTP 503',
  responseBody: '{"error":"busy"}',
  requestId: 'req-1',
  traceId: '0af7651916cd43dd8448eb211c80319c',
};
const encode = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

describe('readOutcomeMessage', () => {
  it('takes a well-formed outcome as it is', () => {
    expect(readOutcomeMessage(encode(valid))).toEqual({ ok: true, outcome: valid });
  });

  it('takes a discard without status or response, and drops unknown fields', () => {
    const discard = { v: 1, syncId: valid.syncId, messageId: 'm', payloadType: 'identify', result: 'discarded', attempt: 0, at: valid.at, receivedAt: valid.at, reason: 'older than 30 days', extra: 1 };
    expect(readOutcomeMessage(encode(discard))).toEqual({
      ok: true,
      outcome: { v: 1, syncId: valid.syncId, messageId: 'm', payloadType: 'identify', result: 'discarded', attempt: 0, at: valid.at, receivedAt: valid.at, reason: 'older than 30 days' },
    });
  });

  it('cuts response excerpts to 2 KB and strips NUL bytes', () => {
    const read = readOutcomeMessage(encode({ ...valid, responseBody: 'é'.repeat(2000), error: 'a\u0000b' }));
    expect(read.ok && 'outcome' in read && Buffer.byteLength(read.outcome.responseBody!, 'utf8')).toBe(2048);
    expect(read.ok && 'outcome' in read && read.outcome.error).toBe('ab');
  });

  it.each<[string, unknown, string]>([
    ['not JSON', '{', 'not JSON'],
    ['an array', [], 'not an object'],
    ['another version', { ...valid, v: 3 }, 'unknown version 3'],
    ['a sync id that is not a uuid', { ...valid, syncId: 'abc' }, 'syncId is not a uuid'],
    ['no message id', { ...valid, messageId: '' }, 'messageId missing or too long'],
    ['an unknown payload type', { ...valid, payloadType: 'page' }, 'unknown payloadType'],
    ['an unknown result', { ...valid, result: 'lost' }, 'unknown result'],
    ['a time in seconds', { ...valid, at: 1_767_225_600 }, 'at is not a time'],
    ['no receive time', { ...valid, receivedAt: undefined }, 'receivedAt is not a time'],
    ['a negative attempt', { ...valid, attempt: -1 }, 'attempt is not a count'],
    ['a status that is not HTTP', { ...valid, status: 42 }, 'status is not an HTTP status'],
  ])('refuses %s', (_name, value, problem) => {
    expect(readOutcomeMessage(encode(value))).toEqual({ ok: false, problem });
  });
});
