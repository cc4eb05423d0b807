import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import type { DeliverySettings, EventFilter } from '@inkstream/contracts';

// Kept free of runtime imports from the workspace so drizzle-kit can load it on its own.

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  /** Soft delete: rows stay for the history and for the snapshot that tells the others. */
  deletedAt: timestamp('deleted_at', { withTimezone: true, mode: 'date' }),
};

export const projects = pgTable('projects', {
  id: uuid('id').primaryKey(),
  name: text('name').notNull(),
  /** sha256 hex of the api key: what ingest matches against. */
  apiKeyHash: text('api_key_hash').notNull().unique('projects_api_key_hash_unique'),
  /** The api key sealed with SECRET_KEY, so an admin can read it again. */
  apiKeySealed: text('api_key_sealed').notNull(),
  version: integer('version').notNull().default(1),
  ...timestamps,
});

/** Operational states stored for a sync; `disabled` is derived from `enabled` when read. */
export type StoredSyncState = 'healthy' | 'retrying' | 'failing';

export const syncs = pgTable(
  'syncs',
  {
    id: uuid('id').primaryKey(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id),
    name: text('name').notNull(),
    destination: text('destination').notNull().default('movable-ink'),
    enabled: boolean('enabled').notNull().default(false),
    endpointUrl: text('endpoint_url').notNull(),
    /** The Authorization header value sealed with SECRET_KEY; never stored in clear. */
    authorizationSealed: text('authorization_sealed').notNull(),
    /** What admins see instead, e.g. `Basic ****Q6dA==`. */
    authorizationHint: text('authorization_hint').notNull(),
    sendEvents: boolean('send_events').notNull().default(true),
    eventFilters: jsonb('event_filters').$type<EventFilter[]>().notNull().default([]),
    eventProperties: jsonb('event_properties').$type<string[]>().notNull().default([]),
    sendUsers: boolean('send_users').notNull().default(false),
    userProperties: jsonb('user_properties').$type<string[]>().notNull().default([]),
    delivery: jsonb('delivery').$type<DeliverySettings>().notNull(),
    statusState: text('status_state').$type<StoredSyncState>().notNull().default('healthy'),
    statusLastError: text('status_last_error'),
    /**
     * When the delivery outcome that set the status happened. The status is projected from
     * delivery outcomes (src/delivery-views), not a config change: no version, no history.
     */
    statusAt: timestamp('status_at', { withTimezone: true, mode: 'date' }),
    version: integer('version').notNull().default(1),
    ...timestamps,
  },
  (table) => [
    index('syncs_project_id_idx').on(table.projectId),
    check('syncs_status_state_check', sql`${table.statusState} in ('healthy', 'retrying', 'failing')`),
  ],
);

export const SYNC_HISTORY_TYPES = ['created', 'updated', 'enabled', 'disabled', 'deleted'] as const;
export type SyncHistoryType = (typeof SYNC_HISTORY_TYPES)[number];

/** A field's value before and after a change; `from` is null for a new sync. */
export type FieldChange = { from: unknown; to: unknown };
export type SyncChanges = Record<string, FieldChange>;

/** Append-only: one row per sync version. */
export const syncHistory = pgTable(
  'sync_history',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    syncId: uuid('sync_id')
      .notNull()
      .references(() => syncs.id),
    version: integer('version').notNull(),
    type: text('type').$type<SyncHistoryType>().notNull(),
    at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    actor: text('actor').notNull(),
    changes: jsonb('changes').$type<SyncChanges>().notNull(),
  },
  (table) => [
    uniqueIndex('sync_history_sync_id_version_unique').on(table.syncId, table.version),
    check(
      'sync_history_type_check',
      sql`${table.type} in ('created', 'updated', 'enabled', 'disabled', 'deleted')`,
    ),
  ],
);

/**
 * Snapshots waiting to be published to the NATS config bucket. Written in the transaction of
 * the change, deleted once the bucket has them (transactional outbox).
 */
export const outbox = pgTable('outbox', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  key: text('key').notNull(),
  payload: jsonb('payload').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

// ---- Delivery views: projected from the outcome stream by src/delivery-views ----------------
// No foreign keys to syncs: an outcome may name a sync this database does not (yet) know, and
// a projection must never stop on it.

/** What happened to a sync's payloads in one minute (UTC, by the outcome's time). */
export const deliveryMinutes = pgTable(
  'delivery_minutes',
  {
    syncId: uuid('sync_id').notNull(),
    minute: timestamp('minute', { withTimezone: true, mode: 'date' }).notNull(),
    delivered: integer('delivered').notNull().default(0),
    deliveredFirstAttempt: integer('delivered_first_attempt').notNull().default(0),
    deliveredAfterRetry: integer('delivered_after_retry').notNull().default(0),
    expired: integer('expired').notNull().default(0),
    discarded: integer('discarded').notNull().default(0),
    rejected: integer('rejected').notNull().default(0),
    dropped: integer('dropped').notNull().default(0),
    /** Failed attempts that will be tried again, by kind. */
    retried: integer('retried').notNull().default(0),
    throttled: integer('throttled').notNull().default(0),
    failing: integer('failing').notNull().default(0),
    /** HTTP attempts by status class; `error` = no response (timeout, refused, reset, DNS). */
    attempts2xx: integer('attempts_2xx').notNull().default(0),
    attempts3xx: integer('attempts_3xx').notNull().default(0),
    attempts4xx: integer('attempts_4xx').notNull().default(0),
    attempts429: integer('attempts_429').notNull().default(0),
    attempts5xx: integer('attempts_5xx').notNull().default(0),
    attemptsError: integer('attempts_error').notNull().default(0),
    /** Longest ingest→delivered latency of the minute, ms (caps the p95 of the top bucket). */
    latencyMaxMs: bigint('latency_max_ms', { mode: 'number' }).notNull().default(0),
  },
  (table) => [primaryKey({ columns: [table.syncId, table.minute] }), index('delivery_minutes_minute_idx').on(table.minute)],
);

/** Ingest→delivered latency histogram per sync and minute: deliveries per fixed bucket. */
export const deliveryLatency = pgTable(
  'delivery_latency',
  {
    syncId: uuid('sync_id').notNull(),
    minute: timestamp('minute', { withTimezone: true, mode: 'date' }).notNull(),
    /** Index into LATENCY_BUCKET_BOUNDS_MS (src/delivery-views/latency-histogram.ts). */
    bucket: smallint('bucket').notNull(),
    count: integer('count').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.syncId, table.minute, table.bucket] }),
    index('delivery_latency_minute_idx').on(table.minute),
  ],
);

/** Failed attempts, the newest 1,000 per sync. */
export const deliveryErrors = pgTable(
  'delivery_errors',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    syncId: uuid('sync_id').notNull(),
    at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull(),
    /** retry, throttled, failing or rejected. */
    result: text('result').notNull(),
    status: integer('status'),
    error: text('error').notNull(),
    responseBody: text('response_body').notNull(),
    requestId: text('request_id'),
    attempt: integer('attempt').notNull(),
    payloadType: text('payload_type').notNull(),
    messageId: text('message_id').notNull(),
    traceId: text('trace_id'),
  },
  (table) => [index('delivery_errors_sync_at_idx').on(table.syncId, table.at.desc(), table.id.desc())],
);

/** Payloads whose latest outcome says they will be tried again (retry, throttled, failing). */
export const deliveryPendingRetries = pgTable(
  'delivery_pending_retries',
  {
    syncId: uuid('sync_id').notNull(),
    messageId: text('message_id').notNull(),
    payloadType: text('payload_type').notNull(),
    result: text('result').notNull(),
    attempt: integer('attempt').notNull(),
    status: integer('status'),
    firstFailedAt: timestamp('first_failed_at', { withTimezone: true, mode: 'date' }).notNull(),
    lastAt: timestamp('last_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.syncId, table.messageId] })],
);

/**
 * The last outcome-stream sequence applied, per durable consumer. Written in the transaction
 * of the batch it covers, so a redelivered message is recognised and never counted twice.
 */
export const outcomeCheckpoints = pgTable('outcome_checkpoints', {
  consumer: text('consumer').primaryKey(),
  lastSeq: bigint('last_seq', { mode: 'number' }).notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

export type ProjectRow = typeof projects.$inferSelect;
export type SyncRow = typeof syncs.$inferSelect;
export type SyncHistoryRow = typeof syncHistory.$inferSelect;
export type OutboxRow = typeof outbox.$inferSelect;
export type DeliveryMinuteRow = typeof deliveryMinutes.$inferSelect;
export type DeliveryErrorRow = typeof deliveryErrors.$inferSelect;
export type DeliveryPendingRetryRow = typeof deliveryPendingRetries.$inferSelect;
