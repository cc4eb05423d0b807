import { describe, expect, it } from 'vitest';
import type { DeliveryOutcome } from '@inkstream/contracts';
import { describeFailure, statusFromOutcome } from './sync-status.js';

const base: DeliveryOutcome = {
  v: 1,
  syncId: '22222222-2222-4222-8222-222222222222',
  messageId: 'm',
  payloadType: 'track',
  result: 'delivered',
  attempt: 1,
  at: 1_767_225_600_000,
  receivedAt: 1_767_225_600_000,
};

describe('statusFromOutcome', () => {
  it.each<[Partial<DeliveryOutcome>, ReturnType<typeof statusFromOutcome>]>([
    [{ result: 'delivered', status: 200 }, { state: 'healthy', lastError: null }],
    [{ result: 'retry', status: 503, error: 'HTTP 503' }, { state: 'retrying', lastError: 'HTTP 503' }],
    [{ result: 'retry', error: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9' }, { state: 'retrying', lastError: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9' }],
    [{ result: 'throttled', status: 429, error: 'HTTP 429' }, { state: 'retrying', lastError: 'HTTP 429' }],
    [{ result: 'failing', status: 401, error: 'HTTP 401', responseBody: '{"error":\n "bad key"}' }, { state: 'failing', lastError: 'HTTP 401: {"error": "bad key"}' }],
    [{ result: 'rejected', status: 400 }, undefined],
    [{ result: 'expired' }, undefined],
    [{ result: 'dropped' }, undefined],
    [{ result: 'discarded', attempt: 0 }, undefined],
  ])('%o', (overrides, expected) => {
    expect(statusFromOutcome({ ...base, ...overrides })).toEqual(expected);
  });
});

describe('describeFailure', () => {
  it.each<[Partial<DeliveryOutcome>, string]>([
    [{ status: 500 }, 'HTTP 500'],
    [{}, 'no response'],
    [{ error: '  ', status: 404 }, 'HTTP 404'],
    [{ error: 'HTTP 500', responseBody: 'x'.repeat(600) }, `HTTP 500: ${'x'.repeat(489)}…`],
  ])('%o → %s', (overrides, expected) => {
    expect(describeFailure({ ...base, result: 'retry', ...overrides })).toBe(expected);
  });
});
