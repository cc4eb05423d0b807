import { describe, expect, it } from 'vitest';
import { exceedsJsonTokenBudget } from './json-budget.js';

const over = (text: string, budget: number) => exceedsJsonTokenBudget(Buffer.from(text), budget);

describe('exceedsJsonTokenBudget', () => {
  it.each([
    // { , : , : } → 4 tokens; [ , , ] → 3.
    ['an object', '{"a":1,"b":2}', 4],
    ['an array', '[1,2,3]', 3],
    ['nesting', '[[[[]]]]', 4],
    ['structure inside strings does not count', '{"a":"[{,:}]"}', 2],
    ['escaped quotes stay inside the string', '{"a":"x\\"[[[[","b":1}', 4],
    ['an escaped backslash ends before the quote', '{"a":"x\\\\","b":[1]}', 5],
    ['multi-byte characters', '{"ü":"😀[,]"}', 2],
  ])('counts %s', (_name, text, tokens) => {
    expect(over(text, tokens)).toBe(false);
    expect(over(text, tokens - 1)).toBe(true);
  });

  it('leaves malformed JSON to the parser', () => {
    expect(over('{"a":"never closed [[[[', 2)).toBe(false);
  });

  it('refuses a 20 MB body of empty objects under the default budget', () => {
    expect(exceedsJsonTokenBudget(Buffer.from(`[${'{},'.repeat(6_000_000)}{}]`))).toBe(true);
    expect(exceedsJsonTokenBudget(Buffer.from(JSON.stringify({ events: Array.from({ length: 2000 }, () => ({ user_id: 'user-12345', event_type: 'x', event_properties: { a: [1, 2, 3], b: { c: 'd' } } })) })))).toBe(false);
  });
});
