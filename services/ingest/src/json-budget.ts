/**
 * Most JSON tokens (`{`, `[`, `,`, `:` outside strings: roughly one per value and one per key)
 * one request may carry. Parsing costs memory per value, not per byte: 20 MB of `[{},{},…]`
 * takes ~440 MB of heap and seconds of CPU in JSON.parse, while 2000 real events rarely reach
 * 100,000 tokens. A body over budget is answered 413, so an SDK splits it and retries.
 */
export const MAX_JSON_TOKENS = 1_000_000;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;
const COMMA = 0x2c;
const COLON = 0x3a;

/**
 * True when the JSON text in `body` has more than `budget` structural tokens. Scans bytes
 * (in UTF-8 these ASCII bytes never occur inside a multi-byte character) and jumps over
 * strings with indexOf, so it costs a few milliseconds for a megabyte of real events.
 * Malformed JSON is left to JSON.parse.
 */
export function exceedsJsonTokenBudget(body: Uint8Array, budget: number = MAX_JSON_TOKENS): boolean {
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
