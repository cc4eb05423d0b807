import { createHash } from 'node:crypto';
import { eventKeyOf, type AmplitudeEvent, type IngestedRecord, type ProjectSnapshot } from '@inkstream/contracts';
import { amplitudeErrors, type AmplitudeError } from './amplitude-responses.js';
import type { AcceptedRecord } from './event-publisher.js';
import type { EventSpans } from './json-budget.js';
import { EventProblems, MAX_DEPTH, isPlainObject, minIdLengthOf, normaliseEvent, validateEvent } from './validate-events.js';

export const MAX_EVENTS_PER_REQUEST = 2000;

export type ProjectLookup = (apiKeyHash: string) => ProjectSnapshot | undefined;

export type Accepted = { ok: true; records: AcceptedRecord[] };
/** `events`: how many events the refused request carried, when it got that far. */
export type Refused = { ok: false; error: AmplitudeError; events?: number };

export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex');
}

/** The bytes a body was parsed from, and where its events lie in them (scanEventsBody). */
export interface EventsText {
  bytes: Uint8Array;
  spans: EventSpans | undefined;
}

/**
 * Turns a parsed HTTP V2 / Batch body into the records to store, or the Amplitude error to
 * answer. All or nothing: one invalid event refuses the request and lists every bad index.
 * With `text` (the body's bytes and where its events lie), an accepted event is stored as the
 * client's own JSON when that is exactly what validation accepted.
 */
export function acceptEventsBody(body: unknown, lookup: ProjectLookup, receivedAt: number, text?: EventsText): Accepted | Refused {
  if (!isPlainObject(body)) return { ok: false, error: amplitudeErrors.invalidJson() };
  const apiKey = body.api_key;
  if (typeof apiKey !== 'string' || apiKey === '') return { ok: false, error: amplitudeErrors.missingField('api_key') };
  const events = body.events;
  if (!Array.isArray(events) || events.length === 0) {
    return { ok: false, error: amplitudeErrors.missingField('events') };
  }
  if (events.length > MAX_EVENTS_PER_REQUEST) return { ok: false, error: amplitudeErrors.tooLarge(), events: events.length };
  const project = lookup(hashApiKey(apiKey));
  if (!project) return { ok: false, error: amplitudeErrors.invalidApiKey(apiKey), events: events.length };
  return acceptEvents(events, 'event', project.id, minIdLengthOf(body.options), receivedAt, text);
}

export function acceptEvents(
  events: readonly unknown[],
  kind: IngestedRecord['kind'],
  projectId: string,
  minIdLength: number,
  receivedAt: number,
  text?: EventsText,
): Accepted | Refused {
  const problems = new EventProblems();
  const records: AcceptedRecord[] = [];
  // The spans are used only when they account for every event the parser found.
  const spans = text?.spans && text.spans.start.length === events.length ? text.spans : undefined;
  for (let index = 0; index < events.length; index++) {
    const raw = events[index];
    // The event's text nests no deeper than the limit allows a field to (the event object is one
    // level): its fields need no depth walk.
    const shallow = spans !== undefined && spans.nesting[index]! <= MAX_DEPTH + 1;
    if (!validateEvent(raw, index, minIdLength, problems, shallow) || !problems.empty) continue;
    const event = normaliseEvent(raw);
    const record: AcceptedRecord = {
      v: 1,
      kind,
      projectId,
      receivedAt,
      eventKey: eventKeyOf(event),
      userKey: (event.user_id ?? event.device_id) as string,
      event,
    };
    // The client's text is what was validated only when normalising removed nothing and every
    // number in it reads back the same (scanEventsBody).
    if (spans && event === raw && spans.verbatim[index]) {
      const start = spans.start[index]!;
      const end = spans.end[index]!;
      if (text!.bytes[start] === 0x7b && text!.bytes[end - 1] === 0x7d) record.eventJson = text!.bytes.subarray(start, end);
    }
    records.push(record);
  }
  if (!problems.empty) return { ok: false, error: amplitudeErrors.invalidEvents(problems.toLists()), events: events.length };
  return { ok: true, records };
}
