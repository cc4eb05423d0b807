import type { SealingKey } from '@inkstream/secret-box';

/** One sealed value in the database: a project's api key or a sync's authorization header. */
export interface SealedValue {
  kind: 'project' | 'sync';
  id: string;
  deleted: boolean;
  /** The key that opens it; undefined when neither SECRET_KEY nor SECRET_KEY_PREVIOUS does. */
  key: SealingKey | undefined;
}

export interface SecretKeyVerdict {
  /** False: the service must not start (`problem` says why and what to do). */
  start: boolean;
  problem?: string;
  /** Values still sealed under SECRET_KEY_PREVIOUS, to re-seal under SECRET_KEY. */
  reseal: number;
  /** Live projects and syncs whose secret no key opens (the API shows them, marked). */
  unreadable: SealedValue[];
  /** Worth a log line: a previous key nothing uses any more, unreadable rows. */
  notes: string[];
}

const HOW_TO_ROTATE =
  'To change the key on purpose, set SECRET_KEY to the new key and SECRET_KEY_PREVIOUS to the old one ' +
  '(config and delivery): the config service re-seals every secret under the new key at start.';

/**
 * Whether SECRET_KEY (with SECRET_KEY_PREVIOUS) is the key of this database. Values sealed under
 * another key cannot be told from damaged ones, so the rule is by proportion: a key that opens
 * none of the stored secrets is the wrong key and the service refuses to start (starting would
 * answer every project without its api key and seal new secrets under a second key); a key that
 * opens some is the right one, and the few it cannot open are reported and shown as unreadable.
 */
export function judgeSecretKey(values: readonly SealedValue[], hasPreviousKey: boolean): SecretKeyVerdict {
  const opened = values.filter((v) => v.key !== undefined);
  const reseal = values.filter((v) => v.key === 'previous').length;
  const unopenable = values.filter((v) => v.key === undefined);
  const notes: string[] = [];

  if (values.length > 0 && opened.length === 0) {
    const keys = hasPreviousKey ? 'Neither SECRET_KEY nor SECRET_KEY_PREVIOUS opens' : 'SECRET_KEY does not open';
    return {
      start: false,
      problem:
        `${keys} any of the ${values.length} secrets stored in the database (project api keys, sync authorization ` +
        'headers): it is not the key they were sealed with. Start with the SECRET_KEY this database was used with ' +
        '(npm start keeps it in .data/secrets.env). ' +
        HOW_TO_ROTATE,
      reseal: 0,
      unreadable: [],
      notes,
    };
  }
  if (hasPreviousKey && reseal === 0) {
    notes.push('SECRET_KEY_PREVIOUS is set but no stored secret is sealed under it any more: it can be removed (from delivery too, once it runs with the new snapshots)');
  }
  const unreadable = unopenable.filter((v) => !v.deleted);
  if (unopenable.length > 0) {
    notes.push(
      `${unopenable.length} of ${values.length} stored secrets cannot be opened with SECRET_KEY` +
        `${hasPreviousKey ? ' or SECRET_KEY_PREVIOUS' : ''} (${unreadable.length} of live projects or syncs): ` +
        'the API shows such a project with `apiKey: null` (rotate its key to get a readable one) and refuses to test ' +
        'such a sync (set its authorization again with PATCH)',
    );
  }
  return { start: true, reseal, unreadable, notes };
}
