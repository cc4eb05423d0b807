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

const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const DOT = 0x2e;
const PLUS = 0x2b;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const EVENTS_KEY = Buffer.from('events');
/** Longer number literals may overflow to Infinity, which does not survive JSON.stringify. */
const MAX_PLAIN_NUMBER_LENGTH = 300;

const isJsonWhitespace = (byte: number | undefined) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

/**
 * Where each element of the body's `events` array lies in its bytes: element `i` is
 * `bytes.subarray(start[i], end[i])`. `verbatim[i]` is true when that text, parsed again, gives
 * exactly the value JSON.stringify of the parsed element would give: false when it holds a
 * number literal that does not survive a round trip (an exponent, which may overflow to
 * Infinity or underflow to -0, a literal long enough to overflow, or -0).
 */
export interface EventSpans {
  start: number[];
  end: number[];
  verbatim: boolean[];
  /**
   * How deep objects and arrays nest in element `i`'s text, the element itself counting 1 (0 for
   * a scalar). No value parsed from that text nests deeper, so an event whose nesting is at most
   * the property depth limit + 1 needs no depth check of its fields.
   */
  nesting: number[];
}

export type EventsBodyScan = { overBudget: true } | { overBudget: false; events: EventSpans | undefined };

/**
 * One pass over an HTTP V2 / Batch body before it is parsed: whether it exceeds the token budget
 * (`{`, `[`, `,`, `:` outside strings; malformed JSON is left to JSON.parse), and where the elements of its top-level `events`
 * array are, so that an accepted event can be stored as the client's own JSON text instead of
 * being serialised again. `events` is undefined whenever that cannot be told for sure (the body
 * is not an object or not well formed, a top-level key has an escape in it, no `events` array):
 * the caller then serialises. Like JSON.parse, the last `events` key wins.
 */
export function scanEventsBody(body: Uint8Array, budget: number = MAX_JSON_TOKENS): EventsBodyScan {
  let tokens = 0;
  let depth = 0;
  let topIsObject = false;
  /** At depth 1 of the top-level object, the next string is a key. */
  let expectKey = false;
  /** The value now read at depth 1 belongs to an `events` key. */
  let eventsValue = false;
  /** Inside the `events` array now being read (its elements are at depth 2). */
  let inEvents = false;
  let unsure = false;
  let found: EventSpans | undefined;
  let current: EventSpans | undefined;
  let elementStart = -1;
  let verbatim = true;
  /** The deepest `depth` reached inside the element now being read. */
  let elementDepth = 0;

  const endElement = (at: number) => {
    if (elementStart === -1) return;
    let end = at;
    while (end > elementStart && isJsonWhitespace(body[end - 1])) end--;
    current!.start.push(elementStart);
    current!.end.push(end);
    current!.verbatim.push(verbatim);
    // Elements of `events` open at depth 2 (body object 1, the array 2).
    current!.nesting.push(elementDepth > 2 ? elementDepth - 2 : 0);
    elementStart = -1;
    verbatim = true;
    elementDepth = 0;
  };

  const length = body.length;
  for (let i = 0; i < length; i++) {
    const byte = body[i]!;
    if (byte === QUOTE) {
      const opening = i;
      let escapes = false;
      // To the closing quote; a backslash always escapes the byte after it. A loop of our own:
      // most strings are short, and indexOf costs a call into the runtime per string.
      for (;;) {
        const b = body[++i];
        if (b === QUOTE) break;
        if (b === BACKSLASH) {
          escapes = true;
          i++;
        } else if (b === undefined) {
          return { overBudget: false, events: undefined };
        }
      }
      if (depth === 1 && expectKey) {
        expectKey = false;
        // A key spelled with escapes could be `events` in disguise: no spans for this body.
        if (escapes) unsure = true;
        eventsValue = i - opening - 1 === EVENTS_KEY.length && EVENTS_KEY.every((b, k) => body[opening + 1 + k] === b);
        if (eventsValue) found = undefined;
      } else if (inEvents && depth === 2 && elementStart === -1) {
        elementStart = opening;
      }
      continue;
    }
    switch (byte) {
      case OPEN_BRACE:
      case OPEN_BRACKET:
        if (++tokens > budget) return { overBudget: true };
        if (depth === 0) {
          topIsObject = byte === OPEN_BRACE;
          expectKey = topIsObject;
        } else if (depth === 1 && eventsValue && byte === OPEN_BRACKET && !inEvents) {
          inEvents = true;
          current = { start: [], end: [], verbatim: [], nesting: [] };
        } else if (inEvents && depth === 2 && elementStart === -1) {
          elementStart = i;
        }
        depth++;
        if (inEvents && depth > elementDepth) elementDepth = depth;
        break;
      case CLOSE_BRACE:
      case CLOSE_BRACKET:
        depth--;
        if (inEvents && depth === 1) {
          endElement(i);
          inEvents = false;
          found = current;
          current = undefined;
        }
        if (depth === 0) eventsValue = false;
        break;
      case COMMA:
        if (++tokens > budget) return { overBudget: true };
        if (inEvents && depth === 2) endElement(i);
        else if (depth === 1 && topIsObject) {
          expectKey = true;
          eventsValue = false;
        }
        break;
      case COLON:
        if (++tokens > budget) return { overBudget: true };
        break;
      default:
        if (!inEvents || isJsonWhitespace(byte)) break;
        if (depth === 2 && elementStart === -1) elementStart = i;
        if (byte === MINUS || (byte >= ZERO && byte <= NINE)) {
          // A number literal: read to its end and judge whether it survives a round trip.
          let j = i + 1;
          let exponent = false;
          let nonZeroDigit = byte > ZERO;
          for (; j < length; j++) {
            const b = body[j]!;
            if (b === LOWER_E || b === UPPER_E) exponent = true;
            else if (b > ZERO && b <= NINE) nonZeroDigit = true;
            else if (b !== ZERO && b !== DOT && b !== MINUS && b !== PLUS) break;
          }
          const negativeZero = byte === MINUS && !nonZeroDigit;
          if (exponent || negativeZero || j - i > MAX_PLAIN_NUMBER_LENGTH) verbatim = false;
          i = j - 1;
        }
    }
  }
  if (depth !== 0 || !topIsObject || unsure || inEvents) return { overBudget: false, events: undefined };
  return { overBudget: false, events: found };
}
