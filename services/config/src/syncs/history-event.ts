import { Type, type Static } from '@sinclair/typebox';
import { SYNC_HISTORY_TYPES, type SyncHistoryRow } from '../db/schema.js';

export const SyncHistoryEventSchema = Type.Object({
  version: Type.Integer({ minimum: 1, description: 'The sync version this change produced' }),
  type: Type.Union(SYNC_HISTORY_TYPES.map((type) => Type.Literal(type))),
  at: Type.String({ format: 'date-time' }),
  actor: Type.String(),
  changes: Type.Record(Type.String(), Type.Object({ from: Type.Unknown(), to: Type.Unknown() }), {
    description: 'Changed fields, each `{from, to}` (`from` is null on creation); authorization masked',
  }),
});
export type SyncHistoryEvent = Static<typeof SyncHistoryEventSchema>;

export function toSyncHistoryEvent(row: SyncHistoryRow): SyncHistoryEvent {
  return {
    version: row.version,
    type: row.type,
    at: row.at.toISOString(),
    actor: row.actor,
    changes: row.changes,
  };
}
