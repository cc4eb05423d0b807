import type { BacklogLimits, BacklogSnapshot } from './backlog-verdict.js';
import type { BodyIntakeLimits } from './body-intake.js';
import type { IngestEnvironment } from './environment.js';
import { InFlightBudget } from './in-flight.js';
import { JetStreamHealth } from './jetstream-health.js';

/**
 * Everything ingest looks at before taking a request, so that it refuses (429/503 with
 * Retry-After) instead of buffering: its own in-flight bound, whether JetStream answers, and
 * how far behind the stream's readers are.
 */
export interface PushBack {
  inFlight: InFlightBudget;
  jetStream: JetStreamHealth;
  natsConnected: () => boolean;
  backlog: () => BacklogSnapshot | undefined;
  backlogLimits: BacklogLimits;
  backlogRetryAfterSeconds: number;
  body: BodyIntakeLimits;
}

export interface PushBackSettings {
  maxInFlightRequests: number;
  maxInFlightBytes: number;
  maxBacklogMessages: number;
  maxStreamBytes: number;
  backlogCheckIntervalMs: number;
  backlogRetryAfterSeconds: number;
  jetStreamCooldownMs: number;
  bodyTimeoutMs: number;
  maxDiscardBytes: number;
}

/** The environment's defaults (environment.ts). */
export const DEFAULT_PUSH_BACK_SETTINGS: PushBackSettings = {
  maxInFlightRequests: 1000,
  maxInFlightBytes: 64_000_000,
  maxBacklogMessages: 1_000_000,
  maxStreamBytes: 0,
  backlogCheckIntervalMs: 2000,
  backlogRetryAfterSeconds: 30,
  jetStreamCooldownMs: 5000,
  bodyTimeoutMs: 30_000,
  maxDiscardBytes: 64_000_000,
};

export function pushBackSettingsFrom(env: IngestEnvironment): PushBackSettings {
  return {
    maxInFlightRequests: env.INGEST_MAX_IN_FLIGHT_REQUESTS,
    maxInFlightBytes: env.INGEST_MAX_IN_FLIGHT_BYTES,
    maxBacklogMessages: env.INGEST_MAX_BACKLOG_MESSAGES,
    maxStreamBytes: env.INGEST_MAX_STREAM_BYTES,
    backlogCheckIntervalMs: env.INGEST_BACKLOG_CHECK_INTERVAL_MS,
    backlogRetryAfterSeconds: env.INGEST_BACKLOG_RETRY_AFTER_SECONDS,
    jetStreamCooldownMs: env.INGEST_JETSTREAM_COOLDOWN_MS,
    bodyTimeoutMs: env.INGEST_BODY_TIMEOUT_MS,
    maxDiscardBytes: env.INGEST_MAX_DISCARD_BYTES,
  };
}

export function createPushBack(
  settings: PushBackSettings,
  natsConnected: () => boolean,
  backlog: () => BacklogSnapshot | undefined,
): PushBack {
  return {
    inFlight: new InFlightBudget(settings.maxInFlightRequests, settings.maxInFlightBytes),
    jetStream: new JetStreamHealth(settings.jetStreamCooldownMs),
    natsConnected,
    backlog,
    backlogLimits: {
      maxMessages: settings.maxBacklogMessages,
      maxStreamBytes: settings.maxStreamBytes,
      // Three missed reads: the snapshot no longer says anything about now.
      maxAgeMs: 3 * settings.backlogCheckIntervalMs + 1000,
    },
    backlogRetryAfterSeconds: settings.backlogRetryAfterSeconds,
    body: { timeoutMs: settings.bodyTimeoutMs, maxDiscardBytes: settings.maxDiscardBytes },
  };
}

/** Whole seconds for Retry-After, at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
