import { describe, expect, it } from 'vitest';
import type { FastifySchemaValidationError } from 'fastify';
import { formatValidationErrors } from './validation-message.js';

const error = (
  keyword: string,
  instancePath: string,
  schemaPath: string,
  params: Record<string, unknown> = {},
  message?: string,
): FastifySchemaValidationError => ({ keyword, instancePath, schemaPath, params, ...(message ? { message } : {}) });

const operatorPath = '#/properties/eventFilters/items/properties/where/items/properties/operator/anyOf';
const authPath = '#/properties/authorization/anyOf';

describe('formatValidationErrors', () => {
  it.each<[string, FastifySchemaValidationError[], string]>([
    ['no errors', [], 'body is invalid'],
    [
      'a format',
      [error('format', '/endpointUrl', '#/properties/endpointUrl/format', { format: 'uri' }, 'must match format "uri"')],
      'body/endpointUrl must match format "uri"',
    ],
    [
      'a missing field',
      [error('required', '', '#/required', { missingProperty: 'name' }, "must have required property 'name'")],
      "body must have required property 'name'",
    ],
    [
      'an unknown field',
      [error('additionalProperties', '/delivery', '#/properties/delivery/additionalProperties', { additionalProperty: 'turbo' }, 'must NOT have additional properties')],
      "body/delivery must NOT have additional property 'turbo'",
    ],
    [
      'a range',
      [error('maximum', '/delivery/maxRequestBytes', '#/x/maximum', { limit: 2000000 }, 'must be <= 2000000')],
      'body/delivery/maxRequestBytes must be <= 2000000',
    ],
    [
      'a single const',
      [error('const', '/destination', '#/properties/destination/const', { allowedValue: 'movable-ink' }, 'must be equal to constant')],
      'body/destination must be "movable-ink"',
    ],
    [
      'an unknown operator',
      [
        error('const', '/eventFilters/0/where/0/operator', `${operatorPath}/0/const`, { allowedValue: 'is' }),
        error('const', '/eventFilters/0/where/0/operator', `${operatorPath}/1/const`, { allowedValue: 'is not' }),
        error('anyOf', '/eventFilters/0/where/0/operator', operatorPath, {}, 'must match a schema in anyOf'),
      ],
      'body/eventFilters/0/where/0/operator must be one of "is", "is not"',
    ],
    [
      'an operator of the wrong type',
      [
        error('type', '/eventFilters/0/where/0/operator', `${operatorPath}/0/type`, { type: 'string' }),
        error('type', '/eventFilters/0/where/0/operator', `${operatorPath}/1/type`, { type: 'string' }),
        error('anyOf', '/eventFilters/0/where/0/operator', operatorPath, {}, 'must match a schema in anyOf'),
      ],
      'body/eventFilters/0/where/0/operator must be string',
    ],
    [
      'credentials missing a part: the object alternative explains it',
      [
        error('type', '/authorization', `${authPath}/0/type`, { type: 'string' }, 'must be string'),
        error('required', '/authorization', `${authPath}/1/required`, { missingProperty: 'accessSecret' }, "must have required property 'accessSecret'"),
        error('anyOf', '/authorization', authPath, {}, 'must match a schema in anyOf'),
      ],
      "body/authorization must have required property 'accessSecret'",
    ],
    [
      'an empty header string: the string alternative explains it',
      [
        error('minLength', '/authorization', `${authPath}/0/minLength`, { limit: 1 }, 'must NOT have fewer than 1 characters'),
        error('type', '/authorization', `${authPath}/1/type`, { type: 'object' }, 'must be object'),
        error('anyOf', '/authorization', authPath, {}, 'must match a schema in anyOf'),
      ],
      'body/authorization must NOT have fewer than 1 characters',
    ],
    [
      'neither a string nor an object',
      [
        error('type', '/authorization', `${authPath}/0/type`, { type: 'string' }, 'must be string'),
        error('type', '/authorization', `${authPath}/1/type`, { type: 'object' }, 'must be object'),
        error('anyOf', '/authorization', authPath, {}, 'must match a schema in anyOf'),
      ],
      'body/authorization must be string or object',
    ],
  ])('%s', (_name, errors, message) => {
    expect(formatValidationErrors(errors, 'body')).toBe(message);
  });

  it('uses the part of the request it was given', () => {
    expect(
      formatValidationErrors([error('format', '/syncId', '#/properties/syncId/format', {}, 'must match format "uuid"')], 'params'),
    ).toBe('params/syncId must match format "uuid"');
  });
});
