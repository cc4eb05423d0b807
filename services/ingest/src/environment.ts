import { Type, type Static } from '@sinclair/typebox';
import { BaseEnvironment, EnvironmentError, Port, parseEnvironment } from '@inkstream/service-kit';

export const IngestEnvironment = Type.Object({
  ...BaseEnvironment,
  INGEST_PORT: Port(8080),
  INGEST_DEDUP_WINDOW_SECONDS: Type.Integer({
    default: 600,
    minimum: 10,
    maximum: 7 * 24 * 3600,
    description: 'Window in which a retried event (same insert_id) is stored once',
  }),
  INGEST_MAX_BODY_BYTES: Type.Integer({ default: 1_000_000, minimum: 1024, description: '/2/httpapi and /identify, after gunzip' }),
  INGEST_MAX_BATCH_BODY_BYTES: Type.Integer({ default: 20_000_000, minimum: 1024, description: '/batch, after gunzip' }),
  // Push-back (services/ingest/README.md, "Push-back"): refuse rather than buffer.
  INGEST_MAX_IN_FLIGHT_REQUESTS: Type.Integer({ default: 1000, minimum: 1, description: 'Requests read, validated or stored at once; more → 503' }),
  INGEST_MAX_IN_FLIGHT_BYTES: Type.Integer({
    default: 64_000_000,
    minimum: 1024,
    description: 'Body bytes held at once (received plus decoded); more → 503. At least INGEST_MAX_BATCH_BODY_BYTES',
  }),
  INGEST_MAX_BACKLOG_MESSAGES: Type.Integer({ default: 1_000_000, minimum: 0, description: 'Events the filter has not finished; more → 429. 0: no bound' }),
  INGEST_MAX_STREAM_BYTES: Type.Integer({ default: 0, minimum: 0, description: 'Bytes in the ingest stream; more → 429. 0: no bound' }),
  INGEST_BACKLOG_CHECK_INTERVAL_MS: Type.Integer({ default: 2000, minimum: 100, maximum: 60_000, description: 'How often the backlog is read' }),
  INGEST_BACKLOG_RETRY_AFTER_SECONDS: Type.Integer({ default: 30, minimum: 1, maximum: 3600, description: 'Retry-After of a 429' }),
  INGEST_PUBLISH_TIMEOUT_MS: Type.Integer({ default: 5000, minimum: 100, maximum: 60_000, description: 'A publish not acknowledged within it fails the request (503)' }),
  INGEST_JETSTREAM_COOLDOWN_MS: Type.Integer({
    default: 5000,
    minimum: 100,
    maximum: 600_000,
    description: 'After a failed publish, requests are answered 503 at once for this long',
  }),
  INGEST_BODY_TIMEOUT_MS: Type.Integer({ default: 30_000, minimum: 1000, description: 'A request body must arrive within it (408 otherwise)' }),
  INGEST_MAX_DISCARD_BYTES: Type.Integer({
    default: 64_000_000,
    minimum: 0,
    description: 'Most bytes of a refused body read and thrown away so the client can read the answer',
  }),
});

export type IngestEnvironment = Static<typeof IngestEnvironment>;

/** Problems no single setting shows: combinations that could never work. */
export function ingestEnvironmentProblems(env: IngestEnvironment): string[] {
  const problems: string[] = [];
  if (env.INGEST_MAX_IN_FLIGHT_BYTES < env.INGEST_MAX_BATCH_BODY_BYTES) {
    problems.push(
      `INGEST_MAX_IN_FLIGHT_BYTES (${env.INGEST_MAX_IN_FLIGHT_BYTES}) must be at least INGEST_MAX_BATCH_BODY_BYTES ` +
        `(${env.INGEST_MAX_BATCH_BODY_BYTES}), or a full-size batch could never be taken`,
    );
  }
  if (env.INGEST_MAX_IN_FLIGHT_BYTES < env.INGEST_MAX_BODY_BYTES) {
    problems.push(`INGEST_MAX_IN_FLIGHT_BYTES (${env.INGEST_MAX_IN_FLIGHT_BYTES}) must be at least INGEST_MAX_BODY_BYTES (${env.INGEST_MAX_BODY_BYTES})`);
  }
  return problems;
}

export function parseIngestEnvironment(raw: Record<string, string | undefined> = process.env): IngestEnvironment {
  const env = parseEnvironment(IngestEnvironment, raw);
  const problems = ingestEnvironmentProblems(env);
  if (problems.length > 0) throw new EnvironmentError(problems);
  return env;
}

/** The environment, or every problem printed and exit(1): for start-up. */
export function loadIngestEnvironment(): IngestEnvironment {
  try {
    return parseIngestEnvironment();
  } catch (err) {
    if (err instanceof EnvironmentError) {
      process.stderr.write(`ingest: cannot start, ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
