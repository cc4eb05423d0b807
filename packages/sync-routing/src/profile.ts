import { createHash } from 'node:crypto';
import type { Properties } from './user-properties.js';

/** What is remembered about one user of one project. */
export interface ProfileEntry {
  v: 1;
  /** Current user properties. */
  properties: Properties;
  /** The user_id ↔ device_id pairing last seen. */
  userId?: string;
  deviceId?: string;
  /**
   * Ingest stream sequence of the last event whose user-property operations were applied, so a
   * redelivered event never applies `$add`/`$append` twice.
   */
  lastSeq: number;
  /** Per sync: fingerprint of the last identify payload produced for this user. */
  identified: Record<string, string>;
}

export const emptyProfile = (): ProfileEntry => ({ v: 1, properties: {}, lastSeq: 0, identified: {} });


/** Key of a user's profile in the profiles bucket (KV keys must be subject-safe). */
export function profileKey(projectId: string, userKey: string): string {
  return `${projectId}.${createHash('sha256').update(userKey).digest('base64url')}`;
}
