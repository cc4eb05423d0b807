import { GROUP_IDENTIFY_EVENT_TYPE, type MovableInkPayload, type SyncSnapshot } from '@inkstream/contracts';
import type { RoutedRecord } from '@inkstream/sync-routing';
import type { PreviewSubject } from './input.js';

export interface PreviewExplanation {
  /** Whether the event (a track) or the identification (an identify) is sent. */
  selected: boolean;
  /** Why not, when it is not. */
  reason?: string;
}

/**
 * Says in words what routeRecord decided for the sync. The main payload of an event is its
 * track, of an identification (or a $identify event) its identify; an identify that comes
 * with a track does not make the event selected.
 */
export function explainPreview(subject: PreviewSubject, sync: SyncSnapshot, routed: RoutedRecord): PreviewExplanation {
  const { event } = subject;
  if (event.event_type === GROUP_IDENTIFY_EVENT_TYPE) {
    return { selected: false, reason: 'group identifications ($groupidentify) are never sent to Movable Ink' };
  }
  const main: MovableInkPayload['type'] = subject.kind === 'identify' || event.event_type === '$identify' ? 'identify' : 'track';
  if (routed.payloads.some((job) => job.payloadType === main)) return { selected: true };
  const discard = routed.discards.find((d) => d.payloadType === main);
  if (discard) return { selected: false, reason: `discarded: ${discard.reason}` };

  if (main === 'identify') return { selected: false, reason: 'sendUsers is off: identifications are not sent' };
  if (!sync.sendEvents) return { selected: false, reason: 'sendEvents is off: events are not sent' };
  if (sync.eventFilters.length === 0) return { selected: false, reason: 'eventFilters is empty: no event is selected' };
  const sameType = sync.eventFilters
    .map((row, index) => ({ row, index }))
    .filter(({ row }) => row.eventType === '*' || row.eventType === event.event_type);
  if (sameType.length === 0) {
    return { selected: false, reason: `no eventFilters row matches event_type ${JSON.stringify(event.event_type)}` };
  }
  const rows = sameType.map(({ row, index }) => `${index} (${JSON.stringify(row.eventType)})`).join(', ');
  return {
    selected: false,
    reason: `eventFilters ${sameType.length === 1 ? 'row' : 'rows'} ${rows} ${sameType.length === 1 ? 'matches' : 'match'} the event type but not all of its where conditions`,
  };
}
