import { Type, type Static } from '@sinclair/typebox';
import type { SecretBox } from '@inkstream/secret-box';
import type { ProjectRow } from '../db/schema.js';

export const ProjectSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  apiKey: Type.Union([Type.String(), Type.Null()], {
    description:
      'What SDKs send as `api_key`: 32 lowercase hex characters. `null` when the stored key cannot be opened with ' +
      'SECRET_KEY (sealed under another key): ingest still accepts it; `rotate-key` issues a readable one',
  }),
  version: Type.Integer({ minimum: 1 }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
export type Project = Static<typeof ProjectSchema>;

export const ProjectCreateSchema = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);
export type ProjectCreateInput = Static<typeof ProjectCreateSchema>;

/** A project as admins see it; `apiKey` is the key opened from its sealed copy (null if it cannot be). */
export function toProject(row: ProjectRow, apiKey: string | null): Project {
  return {
    id: row.id,
    name: row.name,
    apiKey,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/**
 * The project with its api key opened, or `apiKey: null` when SECRET_KEY cannot open it: one
 * unreadable row never fails a whole list (the config service refuses to start when the key
 * opens none of the stored secrets, see src/secrets).
 */
export function toReadableProject(row: ProjectRow, secretBox: SecretBox): Project {
  let apiKey: string | null;
  try {
    apiKey = secretBox.open(row.apiKeySealed);
  } catch {
    apiKey = null;
  }
  return toProject(row, apiKey);
}
