import { describe, expect, it } from 'vitest';
import { syncRow } from '../testing/rows.js';
import { diffSettings, historyTypeOf, sameValue, settingsOf } from './changes.js';

describe('sameValue', () => {
  it.each([
    [1, 1, true],
    ['a', 'b', false],
    [null, null, true],
    [null, {}, false],
    [[1, 2], [1, 2], true],
    [[1, 2], [2, 1], false],
    [{ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }, true],
    [{ a: 1 }, { a: 1, b: undefined }, true],
    [{ a: 1 }, { a: 1, b: 2 }, false],
    [[], {}, false],
  ])('%j vs %j → %s', (a, b, expected) => {
    expect(sameValue(a, b)).toBe(expected);
  });
});

describe('diffSettings', () => {
  const before = settingsOf(syncRow());

  it('lists every field of a new sync with from: null', () => {
    const changes = diffSettings(undefined, before);
    expect(Object.keys(changes).sort()).toEqual(
      ['authorization', 'delivery', 'enabled', 'endpointUrl', 'eventFilters', 'eventProperties', 'name', 'sendEvents', 'sendUsers', 'userProperties'],
    );
    expect(changes.authorization).toEqual({ from: null, to: 'Basic ****Q6dA==' });
  });

  it.each([
    ['nothing', {}, false, {}],
    ['the name', { name: 'new' }, false, { name: { from: 'Movable Ink – prod', to: 'new' } }],
    [
      'one delivery setting',
      { delivery: { ...before.delivery, batchSize: 5 } },
      false,
      { delivery: { from: before.delivery, to: { ...before.delivery, batchSize: 5 } } },
    ],
    ['delivery keys in another order', { delivery: Object.fromEntries(Object.entries(before.delivery).reverse()) as typeof before.delivery }, false, {}],
    ['the secret behind the same mask', {}, true, { authorization: { from: 'Basic ****Q6dA==', to: 'Basic ****Q6dA==' } }],
    ['a different mask the caller says is the same secret', { authorization: 'Basic ****zzzzzz' }, false, {}],
  ])('%s', (_name, override, authorizationChanged, expected) => {
    expect(diffSettings(before, { ...before, ...override }, authorizationChanged)).toEqual(expected);
  });
});

describe('historyTypeOf', () => {
  it.each([
    [{ enabled: { from: false, to: true } }, 'enabled'],
    [{ enabled: { from: true, to: false }, name: { from: 'a', to: 'b' } }, 'disabled'],
    [{ name: { from: 'a', to: 'b' } }, 'updated'],
  ])('%j → %s', (changes, type) => {
    expect(historyTypeOf(changes)).toBe(type);
  });
});
