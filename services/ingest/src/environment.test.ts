import { describe, expect, it } from 'vitest';
import { EnvironmentError } from '@inkstream/service-kit';
import { parseIngestEnvironment } from './environment.js';

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    parseIngestEnvironment(env);
    return [];
  } catch (err) {
    if (err instanceof EnvironmentError) return err.problems;
    throw err;
  }
};

describe('ingest environment', () => {
  it('defaults every push-back knob', () => {
    expect(parseIngestEnvironment({})).toMatchObject({
      INGEST_MAX_IN_FLIGHT_REQUESTS: 1000,
      INGEST_MAX_IN_FLIGHT_BYTES: 64_000_000,
      INGEST_MAX_BACKLOG_MESSAGES: 1_000_000,
      INGEST_MAX_STREAM_BYTES: 0,
      INGEST_BACKLOG_CHECK_INTERVAL_MS: 2000,
      INGEST_BACKLOG_RETRY_AFTER_SECONDS: 30,
      INGEST_PUBLISH_TIMEOUT_MS: 5000,
      INGEST_JETSTREAM_COOLDOWN_MS: 5000,
      INGEST_BODY_TIMEOUT_MS: 30_000,
      INGEST_MAX_DISCARD_BYTES: 64_000_000,
    });
  });

  it.each([
    [{ INGEST_MAX_IN_FLIGHT_REQUESTS: '0' }, /INGEST_MAX_IN_FLIGHT_REQUESTS/],
    [{ INGEST_MAX_BACKLOG_MESSAGES: '-1' }, /INGEST_MAX_BACKLOG_MESSAGES/],
    [{ INGEST_PUBLISH_TIMEOUT_MS: 'soon' }, /INGEST_PUBLISH_TIMEOUT_MS/],
    [{ INGEST_BACKLOG_CHECK_INTERVAL_MS: '10' }, /INGEST_BACKLOG_CHECK_INTERVAL_MS/],
    [{ INGEST_MAX_IN_FLIGHT_BYTES: '10000000' }, /INGEST_MAX_IN_FLIGHT_BYTES \(10000000\) must be at least INGEST_MAX_BATCH_BODY_BYTES \(20000000\)/],
    [{ INGEST_MAX_IN_FLIGHT_BYTES: '500000', INGEST_MAX_BATCH_BODY_BYTES: '100000' }, /must be at least INGEST_MAX_BODY_BYTES/],
  ])('refuses %j, naming the setting', (env, problem) => {
    expect(problemsOf(env).join('\n')).toMatch(problem);
  });

  it('reports every bad setting at once', () => {
    expect(problemsOf({ INGEST_MAX_IN_FLIGHT_REQUESTS: '0', INGEST_JETSTREAM_COOLDOWN_MS: 'x' })).toHaveLength(2);
  });
});
