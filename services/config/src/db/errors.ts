/** Socket-level failures: the database cannot be reached at all. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/** SQLSTATEs that mean "not now" rather than "your query is wrong". */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

const UNAVAILABLE_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /client has encountered a connection error/i,
  /cannot use a pool after calling end/i,
  /connection (?:is )?closed/i,
  /pglite is closed/i,
];

/**
 * True when an error (or one of its causes: drizzle wraps driver errors) says the database is
 * unreachable or refusing connections, so the API answers 503 instead of 500.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (const e of causeChain(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || /^08/.test(code)) return true;
    }
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message))) return true;
  }
  return false;
}

/**
 * What may be logged about an error. Drizzle's query errors carry the statement's parameters
 * in their message; those never reach a log line, only the driver's own message and code.
 */
export function loggableError(err: unknown): { name: string; message: string; code?: string; stack?: string } {
  const chain = causeChain(err);
  const outer = chain[0] as { name?: string; message?: string; stack?: string } | undefined;
  const isQueryError = outer?.name === 'DrizzleQueryError' || /^Failed query:/.test(outer?.message ?? '');
  const source = (isQueryError && chain.length > 1 ? chain[1] : outer) as
    | { name?: string; message?: string; code?: unknown; stack?: string }
    | undefined;
  const result: { name: string; message: string; code?: string; stack?: string } = {
    name: source?.name ?? 'Error',
    message: source?.message ?? String(err),
  };
  if (typeof source?.code === 'string') result.code = source.code;
  if (source?.stack) result.stack = source.stack;
  return result;
}

function causeChain(err: unknown): object[] {
  const chain: object[] = [];
  let current: unknown = err;
  while (current !== null && typeof current === 'object' && chain.length < 8 && !chain.includes(current)) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}
