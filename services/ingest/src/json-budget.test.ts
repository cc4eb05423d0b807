import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_JSON_TOKENS, scanEventsBody, type EventSpans } from './json-budget.js';

const over = (text: string, budget?: number) => scanEventsBody(Buffer.from(text), budget).overBudget;

describe('the token budget of scanEventsBody', () => {
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
    expect(over(`[${'{},'.repeat(6_000_000)}{}]`)).toBe(true);
    expect(over(JSON.stringify({ events: Array.from({ length: 2000 }, () => ({ user_id: 'user-12345', event_type: 'x', event_properties: { a: [1, 2, 3], b: { c: 'd' } } })) }))).toBe(false);
  });
});

const spansOf = (text: string | Buffer): { bytes: Buffer; events: EventSpans | undefined } => {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const scan = scanEventsBody(bytes);
  if (scan.overBudget) throw new Error('over budget');
  return { bytes, events: scan.events };
};
const texts = (bytes: Buffer, spans: EventSpans) => spans.start.map((s, i) => bytes.subarray(s, spans.end[i]).toString());

describe('scanEventsBody', () => {
  it('counts tokens exactly as exceedsJsonTokenBudget does', () => {
    fc.assert(
      fc.property(fc.json(), fc.integer({ min: 0, max: 40 }), (text, budget) => {
        expect(scanEventsBody(Buffer.from(text), budget).overBudget).toBe(exceedsJsonTokenBudget(Buffer.from(text), budget));
      }),
      { numRuns: 500 },
    );
    expect(scanEventsBody(Buffer.from(`[${'{},'.repeat(6_000_000)}{}]`)).overBudget).toBe(true);
  });

  it('finds the text of every element of `events`, whatever the spacing and nesting', () => {
    const body = fc.record({
      before: fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }),
      events: fc.array(fc.jsonValue(), { maxLength: 8 }),
      after: fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }),
      indent: fc.constantFrom(undefined, 1, '\t', ' \r\n '),
    });
    fc.assert(
      fc.property(body, ({ before, events, after, indent }) => {
        const { events: _b, ...head } = before as Record<string, unknown>;
        const { events: _a, ...tail } = after as Record<string, unknown>;
        const text = JSON.stringify({ ...head, events, ...tail }, null, indent as string | number | undefined);
        const { bytes, events: spans } = spansOf(text);
        const parsed = (JSON.parse(text) as { events: unknown[] }).events;
        // A top-level key with an escape in it makes the scan give up; anything else is found.
        if (spans === undefined) {
          expect(Object.keys({ ...head, ...tail }).some((k) => JSON.stringify(k).includes('\\'))).toBe(true);
          return;
        }
        const back = texts(bytes, spans).map((t) => JSON.parse(t) as unknown);
        expect(back).toEqual(parsed);
        // Verbatim text reads back as what serialising the parsed element would store.
        back.forEach((value, i) => {
          if (spans.verbatim[i]) expect(value).toEqual(JSON.parse(JSON.stringify(parsed[i]) ?? 'null'));
        });
      }),
      { numRuns: 500 },
    );
  });

  it('marks numbers that do not read back the same after JSON.stringify', () => {
    const cases: Array<[string, boolean]> = [
      ['1', true],
      ['-1.5', true],
      ['-0.25', true],
      ['0', true],
      ['1.0', true],
      ['123456789012345678901234567890', true],
      ['-0', false],
      ['-0.000', false],
      ['1e400', false],
      ['-1e-400', false],
      // Conservative: an exponent is not looked at further.
      ['2E3', false],
      ['1' + '0'.repeat(400), false],
    ];
    for (const [literal, verbatim] of cases) {
      const { bytes, events } = spansOf(`{"api_key":"k","events":[{"a":{"b":[${literal}]}},{"n":${literal}}, {"t":true,"f":false,"z":null,"s":"1e400 -0"}]}`);
      expect(events?.verbatim, literal).toEqual([verbatim, verbatim, true]);
      const back = texts(bytes, events!).map((t) => JSON.parse(t));
      expect(back[1]).toEqual({ n: JSON.parse(literal) });
      if (verbatim) expect(JSON.parse(JSON.stringify(back[1]))).toEqual(back[1]);
      else if (literal !== '2E3') expect(JSON.parse(JSON.stringify(back[1]))).not.toEqual(back[1]);
    }
  });

  it('takes the last `events` key, as JSON.parse does', () => {
    const { bytes, events } = spansOf('{"events":[{"a":1}],"x":{"events":[{"b":2}]},"events":[ {"c":3} , {"d":[4]}\n] }');
    expect(texts(bytes, events!)).toEqual(['{"c":3}', '{"d":[4]}']);
    expect(spansOf('{"events":[{"a":1}],"events":{"b":[2]}}').events).toBeUndefined();
    expect(spansOf('{"events":[{"a":1}],"events":null}').events).toBeUndefined();
  });

  it('gives up when a top-level key is escaped, or the body is not a well-formed object', () => {
    expect(spansOf('{"events":[{"a":1}],"\\u0065vents":[{"b":2}]}').events).toBeUndefined();
    expect(spansOf('{"\\"":1,"events":[{"a":1}]}').events).toBeUndefined();
    expect(spansOf('[{"events":[{"a":1}]}]').events).toBeUndefined();
    expect(spansOf('{"events":[{"a":1}]').events).toBeUndefined();
    expect(spansOf('{"events":[{"a":"1}]}').events).toBeUndefined();
    expect(spansOf('{"api_key":"k"}').events).toBeUndefined();
    // Escapes inside events (keys and values) are fine.
    const { bytes, events } = spansOf('{"events":[{"\\u0065":"\\"]}"},"x\\\\"]}');
    expect(texts(bytes, events!).map((t) => JSON.parse(t))).toEqual([{ e: '"]}' }, 'x\\']);
  });

  it('reads past a UTF-8 BOM and multi-byte characters', () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"events":[{"ü":"😀,]"},{"a":"é"}]}')]);
    const { bytes, events } = spansOf(body);
    expect(texts(bytes, events!).map((t) => JSON.parse(t))).toEqual([{ ü: '😀,]' }, { a: 'é' }]);
  });
});

/** The former stand-alone counter, kept as the reference scanEventsBody's count must match. */
const [QUOTE, BACKSLASH, OPEN_BRACKET, OPEN_BRACE, COMMA, COLON] = [0x22, 0x5c, 0x5b, 0x7b, 0x2c, 0x3a];
function exceedsJsonTokenBudget(body: Uint8Array, budget: number = MAX_JSON_TOKENS): boolean {
  let tokens = 0;
  const length = body.length;
  for (let i = 0; i < length; i++) {
    const byte = body[i];
    if (byte === QUOTE) {
      // The closing quote is the next one not escaped by an odd run of backslashes.
      for (;;) {
        i = body.indexOf(QUOTE, i + 1);
        if (i === -1) return false;
        let backslashes = 0;
        while (body[i - 1 - backslashes] === BACKSLASH) backslashes++;
        if (backslashes % 2 === 0) break;
      }
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET || byte === COMMA || byte === COLON) {
      if (++tokens > budget) return true;
    }
  }
  return false;
}

