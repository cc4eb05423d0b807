import { STATUS_CODES } from 'node:http';
import { isDatabaseUnavailable } from '../db/errors.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors.js';
import { isBusUnavailable } from '../nats-errors.js';

export interface ErrorResponse {
  statusCode: number;
  error: string;
  message: string;
}

/** The answer for an error thrown while handling a request (fastify's error shape). */
export function errorResponseOf(err: unknown): ErrorResponse {
  if (err instanceof NotFoundError) return response(404, err.message);
  if (err instanceof ConflictError) return response(409, err.message);
  if (err instanceof InvalidInputError) return response(400, err.message);
  if (isDatabaseUnavailable(err)) return response(503, 'the database is unavailable; try again shortly');
  if (isBusUnavailable(err)) return response(503, 'NATS is unavailable; try again shortly');
  const statusCode = (err as { statusCode?: unknown })?.statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 600 && statusCode !== 500) {
    return response(statusCode, (err as Error).message);
  }
  return response(500, 'an unexpected error occurred; the service log has the details');
}

export function response(statusCode: number, message: string): ErrorResponse {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message };
}
