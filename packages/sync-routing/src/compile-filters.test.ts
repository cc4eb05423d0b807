import { describe, expect, it } from 'vitest';
import type { AmplitudeEvent, FilterCondition } from '@inkstream/contracts';
import { compileFilters, globToRegExp } from './compile-filters.js';

const event: AmplitudeEvent = {
  event_type: 'Product Viewed',
  user_id: 'user-12345',
  platform: 'iOS',
  event_properties: {
    price: 49.99,
    price_text: '12',
    name: 'Blue Sneaker – ünïcödé',
    tags: ['sale', 'shoes'],
    flag: true,
    nothing: null,
  },
};
const profile = { plan: 'pro', age: '42' };

function holds(condition: Omit<FilterCondition, 'values'> & { values?: FilterCondition['values'] }, e = event) {
  const select = compileFilters([{ eventType: '*', where: [{ values: [], ...condition }] }]);
  return select(e, profile);
}

const ev = (property: string, operator: FilterCondition['operator'], values: FilterCondition['values'] = []) =>
  ({ propertyType: 'event', property, operator, values }) as const;

describe('operators', () => {
  it.each([
    // is / is not, with numeric strings, arrays, booleans and (none)
    [ev('price', 'is', [49.99]), true],
    [ev('price', 'is', ['49.99']), true],
    [ev('price_text', 'is', [12]), true],
    [ev('price', 'is', [1, 49.99]), true],
    [ev('price', 'is', [1]), false],
    [ev('tags', 'is', ['shoes']), true],
    [ev('flag', 'is', [true]), true],
    [ev('flag', 'is', ['true']), true],
    [ev('missing', 'is', ['(none)']), true],
    [ev('nothing', 'is', ['(none)']), true],
    [ev('price', 'is', ['(none)']), false],
    [ev('missing', 'is', ['x']), false],
    [ev('price', 'is not', [1]), true],
    [ev('price', 'is not', [49.99]), false],
    [ev('missing', 'is not', ['(none)']), false],
    [ev('missing', 'is not', ['x']), true],
    // contains: substring, case-insensitive, unicode
    [ev('name', 'contains', ['sneaker']), true],
    [ev('name', 'contains', ['ÜNÏ']), true],
    [ev('name', 'contains', ['boot']), false],
    [ev('tags', 'contains', ['sal']), true],
    [ev('missing', 'contains', ['x']), false],
    [ev('name', 'does not contain', ['boot']), true],
    [ev('name', 'does not contain', ['blue']), false],
    [ev('missing', 'does not contain', ['x']), true],
    // numeric comparisons, numeric strings, type mismatches
    [ev('price', 'greater', [10]), true],
    [ev('price', 'greater', ['10']), true],
    [ev('price_text', 'greater', [11]), true],
    [ev('price', 'less', [10]), false],
    [ev('price', 'less or equal', [49.99]), true],
    [ev('price', 'greater or equal', [50]), false],
    [ev('name', 'greater', [1]), false],
    [ev('missing', 'less', [1]), false],
    [ev('flag', 'greater', [0]), false],
    // sets over arrays
    [ev('tags', 'set is', ['shoes', 'sale']), true],
    [ev('tags', 'set is', ['shoes']), false],
    [ev('tags', 'set is not', ['shoes']), true],
    [ev('tags', 'set is not', ['sale', 'shoes']), false],
    [ev('missing', 'set is not', ['a']), true],
    // glob
    [ev('name', 'glob match', ['Blue*']), true],
    [ev('name', 'glob match', ['blue*']), false],
    [ev('price_text', 'glob match', ['1?']), true],
    [ev('name', 'glob match', ['*.*']), false],
    // existence
    [ev('price', 'exists'), true],
    [ev('nothing', 'exists'), false],
    [ev('missing', 'does not exist'), true],
    [ev('price', 'does not exist'), false],
  ] as const)('%j → %s', (condition, expected) => {
    expect(holds(condition)).toBe(expected);
  });
});

describe('property types', () => {
  it('field reads top-level event fields', () => {
    expect(holds({ propertyType: 'field', property: 'platform', operator: 'is', values: ['iOS'] })).toBe(true);
    expect(holds({ propertyType: 'field', property: 'user_id', operator: 'is not', values: ['(none)'] })).toBe(true);
    const anonymous = { event_type: 'x', device_id: 'device-1' };
    expect(holds({ propertyType: 'field', property: 'user_id', operator: 'is not', values: ['(none)'] }, anonymous)).toBe(false);
  });
  it('user reads the profile', () => {
    expect(holds({ propertyType: 'user', property: 'plan', operator: 'is', values: ['pro'] })).toBe(true);
    expect(holds({ propertyType: 'user', property: 'age', operator: 'greater', values: [40] })).toBe(true);
    expect(holds({ propertyType: 'user', property: 'price', operator: 'exists' })).toBe(false);
  });
  it('does not read inherited properties', () => {
    expect(holds(ev('constructor', 'exists'))).toBe(false);
    expect(holds({ propertyType: 'user', property: 'toString', operator: 'exists' })).toBe(false);
  });
});

describe('rows', () => {
  const select = compileFilters([
    { eventType: 'Product Viewed', where: [ev('price', 'greater', [10]), ev('tags', 'contains', ['sale'])] },
    { eventType: 'Order Completed' },
  ]);
  it('ORs rows and ANDs conditions', () => {
    expect(select(event, {})).toBe(true);
    expect(select({ ...event, event_properties: { price: 5, tags: ['sale'] } }, {})).toBe(false);
    expect(select({ ...event, event_properties: { price: 50 } }, {})).toBe(false);
    expect(select({ event_type: 'Order Completed', user_id: 'u-12345' }, {})).toBe(true);
    expect(select({ event_type: 'Other', user_id: 'u-12345' }, {})).toBe(false);
  });
  it('selects nothing without rows, everything with "*"', () => {
    expect(compileFilters([])(event, {})).toBe(false);
    expect(compileFilters([{ eventType: '*' }])(event, {})).toBe(true);
  });
  it('glob escapes regex characters', () => {
    expect(globToRegExp('a.b*').test('a.bc')).toBe(true);
    expect(globToRegExp('a.b*').test('axbc')).toBe(false);
    expect(globToRegExp('(x)|y').test('(x)|y')).toBe(true);
  });
});
