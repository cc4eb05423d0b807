// The config API's resources as the console reads them (services/config, spec/config-api.md).

import type { DeliverySettings, EventFilter, FilterOperator, SyncState } from '@inkstream/contracts';

export interface Project {
  id: string;
  name: string;
  /** null when the config service's SECRET_KEY cannot open the stored key: rotate it. */
  apiKey: string | null;
  createdAt: string;
}

export type { DeliverySettings, EventFilter, FilterCondition, PropertyType, SyncState } from '@inkstream/contracts';

/**
 * The filter operators in the order the editor offers them. The list is kept here (not imported
 * at run time) so the console bundle does not carry the API's schema library; the checks below
 * fail the typecheck if it drifts from the API's own list in @inkstream/contracts.
 */
export const OPERATORS = [
  'is',
  'is not',
  'contains',
  'does not contain',
  'less',
  'less or equal',
  'greater',
  'greater or equal',
  'set is',
  'set is not',
  'glob match',
  'exists',
  'does not exist',
] as const satisfies readonly FilterOperator[];
export type Operator = (typeof OPERATORS)[number];
/** Every operator the API accepts is offered. */
const everyOperatorOffered: [Exclude<FilterOperator, Operator>] extends [never] ? true : never = true;
void everyOperatorOffered;
export const NUMERIC_OPERATORS: ReadonlySet<Operator> = new Set(['less', 'less or equal', 'greater', 'greater or equal']);
export const OPERATORS_WITHOUT_VALUES: ReadonlySet<Operator> = new Set(['exists', 'does not exist']);

export interface Sync {
  id: string;
  projectId: string;
  name: string;
  destination: string;
  enabled: boolean;
  endpointUrl: string;
  /** Masked, e.g. "Basic ****Q6dA==". */
  authorization: string;
  sendEvents: boolean;
  eventFilters: EventFilter[];
  eventProperties: string[];
  sendUsers: boolean;
  userProperties: string[];
  delivery: DeliverySettings;
  status: { state: SyncState; lastError: string | null };
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface HistoryEvent {
  version: number;
  type: string;
  at: string;
  actor: string;
  changes: unknown;
}

export interface PreviewResult {
  selected: boolean;
  reason?: string;
  payloads: unknown[];
  discarded: Array<{ payloadType: string; messageId: string; reason: string }>;
  notes: string[];
}

export interface TestResult {
  ok: boolean;
  status: number | null;
  latencyMs: number;
  responseBody: string;
  error: string | null;
  outcome: string;
  requestId: string | null;
  payload: unknown;
}

export const PERIODS = ['TEN_MINUTES', 'ONE_HOUR', 'FOUR_HOURS', 'ONE_DAY', 'ONE_WEEK', 'TWO_WEEKS'] as const;
export type Period = (typeof PERIODS)[number];

export interface DeliveryMetrics {
  timePeriod: string;
  eventsDelivered: number;
  eventsNotDelivered: number;
  deliveryRate: number;
  latencyInSeconds: number;
  successOnFirstAttempt: number;
  successAfterRetry: number;
  eventsExpired: number;
  eventsDiscarded: number;
  pendingRetries: number;
  timePeriodStart: string;
  timePeriodEnd: string;
}

export interface SeriesPoint {
  start: string;
  delivered: number;
  notDelivered: number;
  failedAttempts: number;
}

export interface DeliverySeries {
  timePeriod: string;
  bucketSeconds: number;
  timePeriodStart: string;
  timePeriodEnd: string;
  points: SeriesPoint[];
}

export interface DeliveryError {
  at: string;
  result: string;
  status: number | null;
  error: string;
  responseBody: string;
  requestId: string | null;
  attempt: number;
  payloadType: 'track' | 'identify';
  messageId: string;
  traceId: string | null;
}

export interface DeadLetter {
  id: string;
  payload: Record<string, unknown>;
  payloadType: 'track' | 'identify';
  messageId: string;
  reason: string;
  lastStatus: number | null;
  lastResponse: string | null;
  attempts: number;
  firstAttemptAt: string | null;
  lastAttemptAt: string | null;
  deadAt: string;
  traceId: string | null;
}

export interface DeadLetterPage {
  items: DeadLetter[];
  nextCursor: string | null;
}

export interface RecentEvent {
  receivedAt: string;
  kind: 'event' | 'identify';
  event: Record<string, unknown> & { event_type: string };
}

export interface SeenName {
  name: string;
  count: number;
}

export interface EventCatalog {
  eventTypes: SeenName[];
  eventProperties: SeenName[];
  userProperties: SeenName[];
  fields: SeenName[];
  sampled: number;
}
