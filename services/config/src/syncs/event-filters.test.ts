import { describe, expect, it } from 'vitest';
import type { EventFilter } from '@inkstream/contracts';
import { assertEventFiltersValid } from './event-filters.js';

const condition = (operator: string, values: unknown[], property = 'price') =>
  ({ propertyType: 'event', property, operator, values }) as NonNullable<EventFilter['where']>[number];

describe('assertEventFiltersValid', () => {
  it.each<[string, EventFilter[]]>([
    ['no rows', []],
    ['rows without conditions', [{ eventType: '*' }, { eventType: 'Order Completed', where: [] }]],
    ['is with values', [{ eventType: 'a', where: [condition('is', ['x', 1, true])] }]],
    ['exists without values', [{ eventType: 'a', where: [condition('exists', [])] }]],
    ['does not exist without values', [{ eventType: 'a', where: [condition('does not exist', [])] }]],
    ['numbers and numeric strings', [{ eventType: 'a', where: [condition('greater', [10, '2.5'])] }]],
    ['glob patterns', [{ eventType: 'a', where: [condition('glob match', ['*@example.com'])] }]],
    ['(none)', [{ eventType: 'a', where: [condition('is not', ['(none)'], 'user_id')] }]],
  ])('accepts %s', (_name, filters) => {
    expect(() => assertEventFiltersValid(filters)).not.toThrow();
  });

  it.each<[EventFilter[], string]>([
    [[{ eventType: '   ' }], 'body/eventFilters/0/eventType must not be blank'],
    [[{ eventType: 'a' }, { eventType: 'b', where: [condition('is', ['x'], ' ')] }], 'body/eventFilters/1/where/0/property must not be blank'],
    [[{ eventType: 'a', where: [condition('is', [])] }], 'body/eventFilters/0/where/0/values must not be empty for operator "is"'],
    [[{ eventType: 'a', where: [condition('exists', []), condition('contains', [])] }], 'body/eventFilters/0/where/1/values must not be empty for operator "contains"'],
    [[{ eventType: 'a', where: [condition('less', [1, 'ten'])] }], 'body/eventFilters/0/where/0/values/1 must be a number for operator "less"'],
    [[{ eventType: 'a', where: [condition('greater or equal', [true])] }], 'body/eventFilters/0/where/0/values/0 must be a number for operator "greater or equal"'],
    [[{ eventType: 'a', where: [condition('glob match', [3])] }], 'body/eventFilters/0/where/0/values/0 must be a string pattern for operator "glob match"'],
  ])('refuses %j', (filters, message) => {
    expect(() => assertEventFiltersValid(filters)).toThrow(message);
  });
});
