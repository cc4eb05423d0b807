import { InvalidInputError } from '../errors.js';

const VERSION_TAG = /^(?:W\/)?(?:"(\d{1,9})"|(\d{1,9}))$/;

/**
 * The sync version an `If-Match` header requires: `"3"` or `3` (the ETag we send is `"3"`).
 * Absent or `*` means no precondition.
 */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === '' || value === '*') return undefined;
  const match = VERSION_TAG.exec(value);
  if (!match) throw new InvalidInputError('headers/if-match', 'must be a sync version, e.g. "3"');
  return Number(match[1] ?? match[2]);
}

/** The ETag of a sync version. */
export function versionTag(version: number): string {
  return `"${version}"`;
}
