import { describe, expect, it } from 'vitest';
import { fieldErrorOf } from './field-errors.js';

describe('fieldErrorOf', () => {
  it.each([
    ['body/endpointUrl must match format "uri"', 'endpointUrl', 'Must match format "uri"'],
    ['body/name must NOT have fewer than 1 characters', 'name', 'Must NOT have fewer than 1 characters'],
    ['body/eventFilters/0/eventType must not be blank', 'eventFilters.0.eventType', 'Must not be blank'],
    ['body/eventFilters/2/where/1/values/0 must be a number for operator "greater"', 'eventFilters.2.where.1.values', 'Must be a number for operator "greater"'],
    ['body/eventProperties/4 must NOT have fewer than 1 characters', 'eventProperties', 'Must NOT have fewer than 1 characters'],
    ['body/delivery/batchSize must be <= 1000', 'delivery.batchSize', 'Must be <= 1000'],
    ['body/authorization/accessSecret must NOT have fewer than 1 characters', 'authorization.accessSecret', 'Must NOT have fewer than 1 characters'],
  ])('%s → %s', (message, field, text) => {
    expect(fieldErrorOf(message)).toEqual({ field, message: text });
  });

  it.each([['sync 1f0c not found'], ['body must have either event or identification'], ['querystring/limit must be >= 1'], ['']])(
    '%j names no form field',
    (message) => {
      expect(fieldErrorOf(message)).toEqual({ field: undefined, message });
    },
  );
});
