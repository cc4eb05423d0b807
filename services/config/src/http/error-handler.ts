import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { loggableError } from '../db/errors.js';
import { errorResponseOf } from './error-response.js';

/** Maps errors to `{statusCode, error, message}` and logs what deserves it, without secrets. */
export function handleError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const body = errorResponseOf(err);
  if (body.statusCode === 503) {
    request.log.warn({ err: loggableError(err) }, body.message);
  } else if (body.statusCode >= 500) {
    request.log.error({ err: loggableError(err) }, 'request failed');
  }
  if (body.statusCode === 503) reply.header('retry-after', '5');
  return reply.code(body.statusCode).send(body);
}
