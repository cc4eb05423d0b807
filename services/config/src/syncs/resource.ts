import { Type, type Static } from '@sinclair/typebox';
import { DeliverySettingsSchema, EventFilterSchema, SYNC_STATES } from '@inkstream/contracts';
import type { SyncRow } from '../db/schema.js';
import { settingsOf } from './changes.js';

export const SyncStatusSchema = Type.Object(
  {
    state: Type.Union(
      SYNC_STATES.map((state) => Type.Literal(state)),
      {
        description:
          '`disabled` while not enabled; else from the latest delivery attempt: `healthy` (delivered), `retrying` ' +
          '(408/429/5xx/no response, payloads waiting for a retry) or `failing` (401/403/404: credentials or endpoint wrong)',
      },
    ),
    lastError: Type.Union([Type.String(), Type.Null()], { description: 'The latest failed attempt; null after a delivery' }),
  },
  { description: 'Projected from delivery outcomes; not part of the configuration (no version change)' },
);

/** A sync as admins see it: the authorization header only masked. */
export const SyncSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    projectId: Type.String({ format: 'uuid' }),
    name: Type.String(),
    destination: Type.Literal('movable-ink'),
    enabled: Type.Boolean(),
    endpointUrl: Type.String(),
    authorization: Type.String({ description: 'Masked, e.g. "Basic ****Q6dA=="' }),
    sendEvents: Type.Boolean(),
    eventFilters: Type.Array(EventFilterSchema),
    eventProperties: Type.Array(Type.String()),
    sendUsers: Type.Boolean(),
    userProperties: Type.Array(Type.String()),
    delivery: DeliverySettingsSchema,
    status: SyncStatusSchema,
    version: Type.Integer({ minimum: 1, description: 'Increases with every change; send it as If-Match to update safely' }),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { description: 'One Movable Ink destination of a project' },
);
export type Sync = Static<typeof SyncSchema>;

export function toSync(row: SyncRow): Sync {
  return {
    id: row.id,
    projectId: row.projectId,
    destination: 'movable-ink',
    ...settingsOf(row),
    status: {
      state: row.enabled ? row.statusState : 'disabled',
      lastError: row.statusLastError,
    },
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
