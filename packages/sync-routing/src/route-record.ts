import {
  GROUP_IDENTIFY_EVENT_TYPE,
  IDENTIFY_EVENT_TYPE,
  type DeliveryJob,
  type IngestedRecord,
  type MovableInkPayload,
  type SyncSnapshot,
} from '@inkstream/contracts';
import {
  buildIdentifyPayload,
  buildTrackPayload,
  discardReason,
  pickAllowed,
  type DiscardReason,
  type PayloadSource,
} from '@inkstream/movable-ink';
import type { EventSelector } from './compile-filters.js';
import type { ProfileEntry } from './profile.js';
import { applyUserProperties } from './user-properties.js';

export interface CompiledSync {
  sync: SyncSnapshot;
  select: EventSelector;
}

export interface Discard {
  syncId: string;
  payloadType: MovableInkPayload['type'];
  messageId: string;
  reason: DiscardReason;
}

export interface RoutedRecord {
  /** The profile after this record; `changed` says whether it must be saved. */
  profile: ProfileEntry;
  changed: boolean;
  /** In the order they must reach Movable Ink (a user's identify before its track). */
  jobs: DeliveryJob[];
  discards: Discard[];
}

/**
 * Everything the filter decides for one ingested record, as a pure function: the new user
 * profile and the payloads for each active sync of the project (spec/pipeline.md, filter).
 */
export function routeRecord(
  record: IngestedRecord,
  streamSeq: number,
  before: ProfileEntry,
  syncs: readonly CompiledSync[],
  now: number,
): RoutedRecord {
  const { event } = record;
  const isGroupIdentify = event.event_type === GROUP_IDENTIFY_EVENT_TYPE;
  const isIdentify = record.kind === 'identify' || event.event_type === IDENTIFY_EVENT_TYPE;
  const alreadyApplied = streamSeq <= before.lastSeq;

  const applied =
    alreadyApplied || isGroupIdentify ? before.properties : applyUserProperties(before.properties, event.user_properties);
  // Most events repeat what the profile already says ($set of the same plan, say): keep the old
  // object then, so nothing is rewritten.
  const properties =
    applied === before.properties || JSON.stringify(applied) === JSON.stringify(before.properties) ? before.properties : applied;
  const userId = event.user_id ?? before.userId;
  const deviceId = event.device_id ?? before.deviceId;
  const profile: ProfileEntry = {
    v: 1,
    properties,
    ...(userId !== undefined ? { userId } : {}),
    ...(deviceId !== undefined ? { deviceId } : {}),
    lastSeq: before.lastSeq,
    identified: { ...before.identified },
  };
  let changed = properties !== before.properties || userId !== before.userId || deviceId !== before.deviceId;

  const jobs: DeliveryJob[] = [];
  const discards: Discard[] = [];
  const emit = (sync: SyncSnapshot, payload: MovableInkPayload) => {
    const bytes = Buffer.byteLength(JSON.stringify(payload));
    const reason = discardReason(payload, bytes, sync.delivery.maxRequestBytes, now);
    if (reason) {
      discards.push({ syncId: sync.id, payloadType: payload.type, messageId: payload.message_id, reason });
      return;
    }
    jobs.push({
      v: 1,
      syncId: sync.id,
      projectId: record.projectId,
      payloadType: payload.type,
      messageId: payload.message_id,
      userKey: record.userKey,
      receivedAt: record.receivedAt,
      payload,
    });
  };

  if (!isGroupIdentify) {
    for (const { sync, select } of syncs) {
      const source: PayloadSource = {
        syncId: sync.id,
        event,
        eventKey: record.eventKey,
        receivedAt: record.receivedAt,
        profile: properties,
      };
      if (sync.sendUsers) {
        const fingerprint = JSON.stringify([userId ?? null, deviceId ?? null, pickAllowed(properties, sync.userProperties) ?? null]);
        if (isIdentify || profile.identified[sync.id] !== fingerprint) {
          // The identify carries the whole pairing, so Movable Ink can merge anonymous activity.
          const paired = { ...event, user_id: userId, device_id: deviceId };
          emit(sync, buildIdentifyPayload({ ...source, event: paired }, sync));
          if (profile.identified[sync.id] !== fingerprint) {
            profile.identified[sync.id] = fingerprint;
            changed = true;
          }
        }
      }
      if (!isIdentify && sync.sendEvents && select(event, properties)) {
        emit(sync, buildTrackPayload(source, sync));
      }
    }
  }
  if (changed) profile.lastSeq = Math.max(before.lastSeq, streamSeq);
  return { profile, changed, jobs, discards };
}
