import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** Settings every service has (spec/operations.md, Configuration). */
export const BaseEnvironment = {
  NATS_URL: Type.String({ default: 'nats://127.0.0.1:4222', minLength: 1, description: 'NATS server(s), comma separated' }),
  NATS_NAMESPACE: Type.String({
    default: 'inkstream',
    pattern: '^[A-Za-z0-9_-]+$',
    description: 'Prefix of every stream, subject, consumer and bucket (lets installations share a NATS)',
  }),
  NATS_REPLICAS: Type.Integer({
    default: 1,
    minimum: 1,
    maximum: 5,
    description: 'Copies of every JetStream stream and KV bucket: 1 on a single server, 3 on a NATS cluster',
  }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  HOST: Type.String({ default: '0.0.0.0', description: 'Interface the HTTP server listens on' }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ default: 15_000, minimum: 1_000, description: 'Upper bound for a graceful stop' }),
  STARTUP_TIMEOUT_SECONDS: Type.Integer({
    default: 60,
    minimum: 1,
    maximum: 3600,
    description:
      'How long start-up waits for NATS and JetStream (server not up yet, no meta leader, API timeouts), retrying with backoff; then the service exits naming what did not answer',
  }),
} satisfies TProperties;

export const Port = (fallback: number) => Type.Integer({ default: fallback, minimum: 0, maximum: 65535 });
export const BooleanFlag = (fallback: boolean) => Type.Boolean({ default: fallback });

export class EnvironmentError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid environment:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'EnvironmentError';
  }
}

/**
 * Parses the environment against a schema: applies defaults, converts strings to numbers and
 * booleans, and reports every problem at once (never only the first).
 */
/** Checks a schema cannot say (a key's encoding, say): a problem text, or undefined when fine. */
export type EnvironmentChecks = Record<string, (value: string) => string | undefined>;

export function parseEnvironment<T extends TObject>(
  schema: T,
  env: Record<string, string | undefined> = process.env,
  checks: EnvironmentChecks = {},
): Static<T> {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties)) {
    const raw = env[key];
    if (raw !== undefined && raw !== '') picked[key] = raw.trim();
  }
  const withDefaults = Value.Default(schema, picked);
  const converted = Value.Convert(schema, withDefaults);
  const describe = (name: string, message: string) => {
    const given = env[name];
    const shown = given === undefined ? 'not set' : /SECRET|TOKEN|KEY|PASSWORD/.test(name) ? 'given (hidden)' : `"${given}"`;
    return `${name}: ${message} (${shown})`;
  };
  const problems = [...Value.Errors(schema, converted)].map((e) => describe(e.path.replace(/^\//, '') || '(root)', e.message));
  // Value.Convert truncates "1.5" to 1 for an integer: a fraction is a mistake worth naming.
  for (const [name, property] of Object.entries(schema.properties) as Array<[string, { type?: unknown }]>) {
    const value = (converted as Record<string, unknown>)[name];
    const given = env[name]?.trim();
    if (property.type === 'integer' && given && typeof value === 'number' && !/^[+-]?\d+$/.test(given)) {
      problems.push(describe(name, 'Expected a whole number'));
    }
  }
  for (const [name, check] of Object.entries(checks)) {
    const given = env[name]?.trim();
    const problem = given ? check(given) : undefined;
    if (problem) problems.push(describe(name, problem));
  }
  if (problems.length > 0) throw new EnvironmentError([...new Set(problems)]);
  return converted as Static<T>;
}

/** Like parseEnvironment, but prints every problem and exits: for a service's start-up. */
export function loadEnvironment<T extends TObject>(service: string, schema: T, checks: EnvironmentChecks = {}): Static<T> {
  try {
    return parseEnvironment(schema, process.env, checks);
  } catch (err) {
    if (err instanceof EnvironmentError) {
      process.stderr.write(`${service}: cannot start, ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
