import { Type, type Static } from '@sinclair/typebox';
import { secretKeyProblem } from '@inkstream/secret-box';
import { BaseEnvironment, BooleanFlag, EnvironmentError, Port, parseEnvironment } from '@inkstream/service-kit';

export const ConfigEnvironmentSchema = Type.Object({
  ...BaseEnvironment,
  CONFIG_PORT: Port(8081),
  DATABASE_URL: Type.Optional(
    Type.String({ pattern: '^postgres(ql)?://', description: 'Postgres; unset = embedded PGlite in PGLITE_DIR' }),
  ),
  PGLITE_DIR: Type.String({ default: './.data/pglite', minLength: 1, description: 'Data of the embedded PGlite' }),
  ADMIN_TOKEN: Type.String({ minLength: 16, description: 'Bearer token of the admin API' }),
  SECRET_KEY: Type.String({ minLength: 1, description: '32 bytes, hex or base64: seals authorization headers and api keys' }),
  SECRET_KEY_PREVIOUS: Type.Optional(
    Type.String({ description: 'During a key rotation, the old SECRET_KEY: still opens, and what it sealed is re-sealed at start' }),
  ),
  ALLOW_PRIVATE_ENDPOINTS: BooleanFlag(false),
});
export type ConfigEnvironment = Static<typeof ConfigEnvironmentSchema>;

/** Parses the config service's settings and reports every problem at once. */
export function parseConfigEnvironment(env: Record<string, string | undefined> = process.env): ConfigEnvironment {
  return parseEnvironment(ConfigEnvironmentSchema, env, { SECRET_KEY: secretKeyProblem, SECRET_KEY_PREVIOUS: secretKeyProblem });
}

/** For start-up: prints every problem and exits 1. */
export function loadConfigEnvironment(): ConfigEnvironment {
  try {
    return parseConfigEnvironment();
  } catch (err) {
    if (err instanceof EnvironmentError) {
      process.stderr.write(`config: cannot start, ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
