import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
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

export type ProjectRow = typeof projects.$inferSelect;
export type SyncRow = typeof syncs.$inferSelect;
export type SyncHistoryRow = typeof syncHistory.$inferSelect;
export type OutboxRow = typeof outbox.$inferSelect;
