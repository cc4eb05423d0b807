import { IDENTIFY_EVENT_TYPE } from '@inkstream/contracts';
import { amplitudeErrors } from './amplitude-responses.js';
import { acceptEvents, hashApiKey, MAX_EVENTS_PER_REQUEST, type Accepted, type ProjectLookup, type Refused } from './accept-events.js';
import { DEFAULT_MIN_ID_LENGTH, isPlainObject } from './validate-events.js';

/**
 * Identify API (`api_key` + `identification`, a JSON string of one object or an array).
 * Each identification becomes a `$identify` record, validated like an event, so the filter
 * applies it to the profile in the same order as the user's events.
 */
export function acceptIdentifyForm(
  fields: Record<string, string | undefined>,
  lookup: ProjectLookup,
  receivedAt: number,
): Accepted | Refused {
  const apiKey = fields.api_key;
  if (!apiKey) return { ok: false, error: amplitudeErrors.missingField('api_key') };
  const raw = fields.identification;
  if (raw === undefined || raw.trim() === '') return { ok: false, error: amplitudeErrors.missingEvent() };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { ok: false, error: amplitudeErrors.missingEvent() };
  }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  if (items.length === 0 || !items.every(isPlainObject)) return { ok: false, error: amplitudeErrors.missingEvent() };
  if (items.length > MAX_EVENTS_PER_REQUEST) return { ok: false, error: amplitudeErrors.tooLarge() };
  const project = lookup(hashApiKey(apiKey));
  if (!project) return { ok: false, error: amplitudeErrors.invalidApiKey(apiKey) };
  const events = items.map((item) => ({ ...item, event_type: IDENTIFY_EVENT_TYPE }));
  return acceptEvents(events, 'identify', project.id, DEFAULT_MIN_ID_LENGTH, receivedAt);
}
