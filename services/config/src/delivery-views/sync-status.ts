import type { DeliveryOutcome } from '@inkstream/contracts';
import type { StoredSyncState } from '../db/schema.js';

export interface ProjectedStatus {
  state: StoredSyncState;
  /** The error of the latest failed attempt; null once an attempt succeeded. */
  lastError: string | null;
}

const MAX_LAST_ERROR_LENGTH = 500;

/**
 * What an attempt says about the health of its sync's endpoint (spec/config-api.md, status):
 * a delivery means healthy; a retryable failure (408, 429, 5xx, no response) retrying; 401,
 * 403 or 404 failing — the credentials or the endpoint are wrong. Outcomes that are not an
 * attempt's verdict on the endpoint (a payload rejected for its content, expired, dropped,
 * discarded) say nothing about it.
 */
export function statusFromOutcome(outcome: DeliveryOutcome): ProjectedStatus | undefined {
  switch (outcome.result) {
    case 'delivered':
      return { state: 'healthy', lastError: null };
    case 'retry':
    case 'throttled':
      return { state: 'retrying', lastError: describeFailure(outcome) };
    case 'failing':
      return { state: 'failing', lastError: describeFailure(outcome) };
    default:
      return undefined;
  }
}

/** One line for an admin: what the endpoint answered (or why it did not), with the start of its body. */
export function describeFailure(outcome: DeliveryOutcome): string {
  const what = outcome.error?.trim() || (outcome.status !== undefined ? `HTTP ${outcome.status}` : 'no response');
  const body = outcome.responseBody?.trim().replace(/\s+/g, ' ');
  const text = body ? `${what}: ${body}` : what;
  return text.length > MAX_LAST_ERROR_LENGTH ? `${text.slice(0, MAX_LAST_ERROR_LENGTH - 1)}…` : text;
}
