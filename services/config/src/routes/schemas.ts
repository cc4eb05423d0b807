import { Type } from '@sinclair/typebox';
import { ADMIN_SECURITY } from '../http/openapi.js';

export const ErrorSchema = Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String(),
    message: Type.String({ description: 'What went wrong; validation errors name the field, e.g. body/endpointUrl' }),
  },
  { description: 'An error' },
);

/**
 * The error answers a /v1 route can give: the ones listed plus 401 (no admin token) and 503
 * (database or NATS unavailable), which every route can answer.
 */
export function errorResponses<const C extends readonly number[]>(
  ...codes: C
): { [K in C[number] | 401 | 503]: typeof ErrorSchema } {
  const out: Record<number, typeof ErrorSchema> = { 401: ErrorSchema, 503: ErrorSchema };
  for (const code of codes) out[code] = ErrorSchema;
  return out as { [K in C[number] | 401 | 503]: typeof ErrorSchema };
}

export const ProjectParams = Type.Object({ projectId: Type.String({ format: 'uuid' }) });
export const SyncParams = Type.Object({ syncId: Type.String({ format: 'uuid' }) });

export const IfMatchHeaders = Type.Object({
  'if-match': Type.Optional(
    Type.String({ description: 'The version the change is based on ("3" or 3); another current version → 409' }),
  ),
});

/** 204: no body at all. */
export const NoContent = Type.Unsafe<void>({ type: 'null', description: 'Done, no content' });

export const adminRoute = { security: ADMIN_SECURITY };
