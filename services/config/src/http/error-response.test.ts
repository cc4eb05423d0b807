import { describe, expect, it } from 'vitest';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors.js';
import { errorResponseOf } from './error-response.js';

const withStatus = (statusCode: number, message: string) => Object.assign(new Error(message), { statusCode });
const wrapped = (cause: unknown) => Object.assign(new Error('Failed query: select 1\nparams: '), { name: 'DrizzleQueryError', cause });

describe('errorResponseOf', () => {
  it.each<[string, unknown, { statusCode: number; error: string; message: string }]>([
    ['unknown project', new NotFoundError('project', 'p1'), { statusCode: 404, error: 'Not Found', message: 'project p1 not found' }],
    ['unknown sync', new NotFoundError('sync', 's1'), { statusCode: 404, error: 'Not Found', message: 'sync s1 not found' }],
    ['version conflict', new ConflictError('sync s1 is at version 4, not 3'), { statusCode: 409, error: 'Conflict', message: 'sync s1 is at version 4, not 3' }],
    [
      'invalid input',
      new InvalidInputError('body/endpointUrl', 'must use https'),
      { statusCode: 400, error: 'Bad Request', message: 'body/endpointUrl must use https' },
    ],
    ['fastify validation', withStatus(400, 'body/name must be string'), { statusCode: 400, error: 'Bad Request', message: 'body/name must be string' }],
    ['body too large', withStatus(413, 'Request body is too large'), { statusCode: 413, error: 'Payload Too Large', message: 'Request body is too large' }],
    [
      'database refusing connections',
      wrapped(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })),
      { statusCode: 503, error: 'Service Unavailable', message: 'the database is unavailable; try again shortly' },
    ],
    [
      'NATS not answering',
      Object.assign(new Error('timeout'), { name: 'TimeoutError' }),
      { statusCode: 503, error: 'Service Unavailable', message: 'NATS is unavailable; try again shortly' },
    ],
    [
      'no stream listening',
      Object.assign(new Error('publish failed'), { cause: Object.assign(new Error('503'), { name: 'NoResponders' }) }),
      { statusCode: 503, error: 'Service Unavailable', message: 'NATS is unavailable; try again shortly' },
    ],
    [
      'anything else',
      new TypeError('x is undefined'),
      { statusCode: 500, error: 'Internal Server Error', message: 'an unexpected error occurred; the service log has the details' },
    ],
    [
      'a 500 with a message of its own',
      withStatus(500, 'secret internals'),
      { statusCode: 500, error: 'Internal Server Error', message: 'an unexpected error occurred; the service log has the details' },
    ],
  ])('%s', (_name, err, expected) => {
    expect(errorResponseOf(err)).toEqual(expected);
  });
});
