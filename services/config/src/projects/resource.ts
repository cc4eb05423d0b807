import { Type, type Static } from '@sinclair/typebox';
import type { ProjectRow } from '../db/schema.js';

export const ProjectSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  apiKey: Type.String({ description: 'What SDKs send as `api_key`: 32 lowercase hex characters' }),
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

/** A project as admins see it; `apiKey` is the key opened from its sealed copy. */
export function toProject(row: ProjectRow, apiKey: string): Project {
  return {
    id: row.id,
    name: row.name,
    apiKey,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
