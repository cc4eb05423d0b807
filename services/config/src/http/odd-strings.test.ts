import { describe, expect, it } from 'vitest';
import { findOddString, oddCharacterIn } from './odd-strings.js';

describe('odd characters', () => {
  it.each([
    ['plain', undefined],
    ['', undefined],
    ['emoji 😀 is a valid pair', undefined],
    ['accents é ü ß 漢字', undefined],
    ['tab\tand newline\n', undefined],
    ['nul\u0000inside', 'the NUL character (U+0000)'],
    ['\u0000', 'the NUL character (U+0000)'],
    ['lone high \ud800', 'an unpaired UTF-16 surrogate (U+D800)'],
    ['\ud83d at the start', 'an unpaired UTF-16 surrogate (U+D83D)'],
    ['lone low \udc00', 'an unpaired UTF-16 surrogate (U+DC00)'],
    ['reversed pair \ude00\ud83d', 'an unpaired UTF-16 surrogate (U+DE00)'],
    ['two highs \ud83d\ud83d\ude00', 'an unpaired UTF-16 surrogate (U+D83D)'],
  ])('%j → %s', (value, expected) => {
    expect(oddCharacterIn(value)).toBe(expected);
  });
});

describe('finding the first odd string of a body', () => {
  it.each([
    [{ name: 'ok', list: ['a', 'b'], n: 1, t: true, z: null }, undefined],
    [{ name: 'a\u0000' }, 'body/name must not contain the NUL character (U+0000)'],
    [
      { eventFilters: [{ eventType: 'ok' }, { eventType: 'x', where: [{ values: [1, 'fine', '\ud800'] }] }] },
      'body/eventFilters/1/where/0/values/2 must not contain an unpaired UTF-16 surrogate (U+D800)',
    ],
    [{ authorization: { accessKeyId: 'k', accessSecret: '\udfff' } }, 'body/authorization/accessSecret must not contain an unpaired UTF-16 surrogate (U+DFFF)'],
    [{ event: { event_properties: { 'a\u0000b': 1 } } }, 'body/event/event_properties must not have a property name containing the NUL character (U+0000)'],
    [{ first: '\u0000', second: '\ud800' }, 'body/first must not contain the NUL character (U+0000)'],
    [['\ud800'], 'body/0 must not contain an unpaired UTF-16 surrogate (U+D800)'],
    ['\u0000', 'body must not contain the NUL character (U+0000)'],
    [42, undefined],
    [undefined, undefined],
  ])('%j', (body, expected) => {
    const found = findOddString(body, 'body');
    expect(found ? `${found.field} ${found.problem}` : undefined).toBe(expected);
  });

  it('walks a deeply nested body without overflowing the stack', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findOddString(deep, 'body')).toBeUndefined();
    let shallow: unknown = '\u0000';
    for (let i = 0; i < 10; i++) shallow = { a: shallow };
    expect(findOddString(shallow, 'body')?.field).toBe('body/a/a/a/a/a/a/a/a/a/a');
  });
});
