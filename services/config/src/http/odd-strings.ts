import type { FastifyReply, FastifyRequest } from 'fastify';
import { response } from './error-response.js';

/**
 * Strings that Postgres cannot store: U+0000 is refused by `text` and `jsonb`, and a lone
 * UTF-16 surrogate (`"\ud800"` in JSON) is refused by `jsonb` and silently replaced by U+FFFD in
 * `text`. Neither is meaningful in a name, a URL, a header or a property name, so the config
 * API refuses them with a 400 naming the field, on Postgres and PGlite alike, instead of
 * answering 500 (jsonb) or storing something else than it was given (text).
 */
const ODD_CHARACTER = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Deeper than any body a config route accepts; a deeper body is refused by its schema anyway. */
const MAX_WALK_DEPTH = 64;

export interface OddString {
  /** Where, as validation errors name fields: `body/eventFilters/0/eventType`. */
  field: string;
  /** `must not ...`, ready to follow the field. */
  problem: string;
}

/** The character that keeps a string from being stored, described, or undefined when it can be. */
export function oddCharacterIn(value: string): string | undefined {
  const match = ODD_CHARACTER.exec(value);
  if (!match) return undefined;
  if (match[0] === '\u0000') return 'the NUL character (U+0000)';
  return `an unpaired UTF-16 surrogate (U+${match[0].charCodeAt(0).toString(16).toUpperCase()})`;
}

/**
 * The first string (value or property name) in a parsed JSON value that cannot be stored.
 * Walks iteratively, so a deeply nested body cannot overflow the stack; below MAX_WALK_DEPTH
 * it stops looking (the route's schema refuses such bodies).
 */
export function findOddString(value: unknown, root: string): OddString | undefined {
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value, path: root, depth: 0 }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (typeof item.value === 'string') {
      const problem = oddCharacterIn(item.value);
      if (problem) return { field: item.path, problem: `must not contain ${problem}` };
      continue;
    }
    if (item.value === null || typeof item.value !== 'object' || item.depth >= MAX_WALK_DEPTH) continue;
    const isArray = Array.isArray(item.value);
    const entries = isArray ? (item.value as unknown[]).map((v, i) => [String(i), v] as const) : Object.entries(item.value);
    if (!isArray) {
      for (const [key] of entries) {
        const problem = oddCharacterIn(key);
        if (problem) return { field: item.path, problem: `must not have a property name containing ${problem}` };
      }
    }
    // Pushed in reverse so the first field in document order is reported first.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      stack.push({ value: child, path: `${item.path}/${key}`, depth: item.depth + 1 });
    }
  }
  return undefined;
}

/**
 * A preValidation hook for every /v1 route: a body, query string or path parameter holding such
 * a string gets a 400 naming it (the preview too: what it cannot store it need not explain).
 */
export async function refuseOddStrings(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const found =
    findOddString(request.params, 'params') ?? findOddString(request.query, 'querystring') ?? findOddString(request.body, 'body');
  if (found) await reply.code(400).send(response(400, `${found.field} ${found.problem}`));
}
