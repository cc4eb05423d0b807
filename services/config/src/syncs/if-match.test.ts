import { describe, expect, it } from 'vitest';
import { parseIfMatch, versionTag } from './if-match.js';

describe('parseIfMatch', () => {
  it.each([
    [undefined, undefined],
    ['', undefined],
    ['*', undefined],
    ['3', 3],
    ['"3"', 3],
    [' "12" ', 12],
    ['W/"7"', 7],
  ])('%j → %j', (header, version) => {
    expect(parseIfMatch(header)).toBe(version);
  });

  it.each(['abc', '"3', '3"', '"3", "4"', '-1', '1.5', '"x"', '1234567890'])('refuses %j', (header) => {
    expect(() => parseIfMatch(header)).toThrow('headers/if-match must be a sync version, e.g. "3"');
  });

  it('round-trips the ETag it produces', () => {
    expect(parseIfMatch(versionTag(42))).toBe(42);
  });
});
