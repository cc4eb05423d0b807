/**
 * Where an API error belongs in a form. The config API names the offending field first in its
 * message, as a path (`body/endpointUrl must match format "uri"`,
 * `body/eventFilters/0/where/1/values/0 must be a number …`); the form keys its fields by the
 * same path without `body/`, dot-separated (`eventFilters.0.where.1.values`).
 */
export interface FieldError {
  /** The form field, or undefined when the message names none (then it is shown for the form). */
  field: string | undefined;
  message: string;
}

/** How deep a path is kept: `values/3` is shown at the values input, not at one value. */
const COLLAPSE_AFTER = ['values', 'eventProperties', 'userProperties'];

export function fieldErrorOf(message: string): FieldError {
  const match = /^body\/([A-Za-z0-9_/]+)\s+(.*)$/s.exec(message.trim());
  if (!match) return { field: undefined, message };
  const parts = match[1]!.split('/');
  const cut = parts.findIndex((p) => COLLAPSE_AFTER.includes(p));
  const kept = cut === -1 ? parts : parts.slice(0, cut + 1);
  return { field: kept.join('.'), message: capitalise(match[2]!) };
}

/** `must NOT have additional property 'x'` reads oddly next to a field; the rest reads fine. */
function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
