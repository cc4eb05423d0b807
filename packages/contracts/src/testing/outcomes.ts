import type { DeliveryOutcome } from '../delivery-outcome.js';

/** The sync most outcome fixtures are about, and another one. */
export const OUTCOME_SYNC = '22222222-2222-4222-8222-222222222222';
export const OTHER_SYNC = '33333333-3333-4333-8333-333333333333';
/** A whole minute (2026-01-01T00:00:00Z): outcome times are counted from it. */
export const T0 = 1_767_225_600_000;

/**
 * A v1 delivery outcome, as delivery published them one per attempt: payload `m1` of
 * OUTCOME_SYNC delivered (200) on its first attempt a second after it was received at T0.
 */
export function v1Outcome(overrides: Partial<DeliveryOutcome> = {}): DeliveryOutcome {
  return {
    v: 1,
    syncId: OUTCOME_SYNC,
    messageId: 'm1',
    payloadType: 'track',
    result: 'delivered',
    status: 200,
    attempt: 1,
    at: T0 + 1_000,
    receivedAt: T0,
    ...overrides,
  };
}

/** A v1Outcome builder with a test's own defaults (its times, its sync), then each call's overrides. */
export function v1OutcomeWith(defaults: Partial<DeliveryOutcome>): (overrides?: Partial<DeliveryOutcome>) => DeliveryOutcome {
  return (overrides = {}) => v1Outcome({ ...defaults, ...overrides });
}

