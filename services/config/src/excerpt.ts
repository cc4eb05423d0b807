/** Response bodies and error texts are kept to 2 KB, as the contract promises. */
export const MAX_EXCERPT_BYTES = 2048;

/** A string cut to 2 KB of UTF-8 (never in the middle of a character), without NUL bytes Postgres refuses. */
export function excerpt(value: unknown, maxBytes = MAX_EXCERPT_BYTES): string | undefined {
  if (typeof value !== 'string') return undefined;
  const clean = value.includes('\u0000') ? value.replaceAll('\u0000', '') : value;
  if (Buffer.byteLength(clean, 'utf8') <= maxBytes) return clean;
  const cut = Buffer.from(clean, 'utf8').subarray(0, maxBytes).toString('utf8');
  // A character cut in half decodes as U+FFFD at the end.
  return cut.endsWith('\uFFFD') ? cut.slice(0, -1) : cut;
}
