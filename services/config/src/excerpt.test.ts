import { describe, expect, it } from 'vitest';
import { excerpt } from './excerpt.js';

describe('excerpt', () => {
  it.each<[string, unknown, string | undefined]>([
    ['short text', 'abc', 'abc'],
    ['not a string', 42, undefined],
    ['exactly the limit', 'x'.repeat(2048), 'x'.repeat(2048)],
    ['over the limit', 'x'.repeat(3000), 'x'.repeat(2048)],
    ['a multi-byte character across the limit', `${'x'.repeat(2047)}é`, 'x'.repeat(2047)],
  ])('%s', (_name, value, expected) => {
    expect(excerpt(value)).toBe(expected);
  });
});
