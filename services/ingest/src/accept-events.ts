import { createHash } from 'node:crypto';
import { eventKeyOf, type AmplitudeEvent, type IngestedRecord, type ProjectSnapshot } from '@inkstream/contracts';
import { amplitudeErrors, type AmplitudeError } from './amplitude-responses.js';
import { EventProblems, isPlainObject, minIdLengthOf, normaliseEvent, validateEvent } from './validate-events.js';

export const MAX_EVENTS_PER_REQUEST = 2000;

export type ProjectLookup = (apiKeyHash: string) => ProjectSnapshot | undefined;

export type Accepted = { ok: true; records: IngestedRecord[] };
/** `events`: how many events the refused request carried, when it got that far. */
export type Refused = { ok: false; error: AmplitudeError; events?: number };

export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex');
}

/**
 * Turns a parsed HTTP V2 / Batch body into the records to store, or the Amplitude error to
 * answer. All or nothing: one invalid event refuses the request and lists every bad index.
 */
export function acceptEventsBody(body: unknown, lookup: ProjectLookup, receivedAt: number): Accepted | Refused {
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
  return acceptEvents(events, 'event', project.id, minIdLengthOf(body.options), receivedAt);
}

export function acceptEvents(
  events: readonly unknown[],
  kind: IngestedRecord['kind'],
  projectId: string,
  minIdLength: number,
  receivedAt: number,
): Accepted | Refused {
  const problems = new EventProblems();
  const valid: AmplitudeEvent[] = [];
  events.forEach((raw, index) => {
    if (validateEvent(raw, index, minIdLength, problems)) valid.push(normaliseEvent(raw));
  });
  if (!problems.empty) return { ok: false, error: amplitudeErrors.invalidEvents(problems.toLists()), events: events.length };
  const records = valid.map(
    (event): IngestedRecord => ({
      v: 1,
      kind,
      projectId,
      receivedAt,
      eventKey: eventKeyOf(event),
      userKey: (event.user_id ?? event.device_id) as string,
      event,
    }),
  );
  return { ok: true, records };
}
