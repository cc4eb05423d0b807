/**
 * Start-up against a NATS that is not quite there yet: a server still starting, a cluster still
 * electing its meta leader, a slow JetStream API. What such an error means (wait or give up) is
 * decided by one pure classifier; the retry loop around each start-up step is short and boring.
 * Services exit on start-up errors by design (compose restarts them): a transient error is
 * retried with backoff and jitter until STARTUP_TIMEOUT_SECONDS, a permanent one fails at once.
 */
import { JetStreamApiError } from '@nats-io/jetstream';
import { errors as natsErrors } from '@nats-io/transport-node';
import type { BusLogger } from './connection.js';

/** The setting that bounds the wait, named in warnings and errors. */
export const STARTUP_TIMEOUT_SETTING = 'STARTUP_TIMEOUT_SECONDS';

export interface StartupErrorClass {
  transient: boolean;
  /** What the error means, in a few words (logged with each retry). */
  reason: string;
}

/** JetStream API error codes (the server's `err_code`) that clear by themselves. */
const TRANSIENT_JS_CODES: Record<number, string> = {
  10004: 'JetStream cluster results incomplete',
  10007: 'JetStream cluster not assigned to this server yet',
  10008: 'JetStream system temporarily unavailable (no meta leader yet?)',
  10009: 'JetStream cluster cannot handle the request yet (no leader)',
};

const TRANSIENT_MESSAGE =
  /timeout|timed out|no responders|temporarily unavailable|no (meta )?leader|leader(ship)? (not|transferred)|not (yet )?current|offline|ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|connection refused/i;

/**
 * Whether an error seen while a service starts may clear by itself (retry) or says something is
 * wrong that waiting will not fix (fail now). Unknown errors are permanent: a bug or a bad setting
 * should not be hidden behind a minute of retries.
 */
export function classifyStartupError(err: unknown): StartupErrorClass {
  if (!(err instanceof Error)) return { transient: false, reason: 'unexpected failure' };
  // The client's own verdicts first (classes from @nats-io/nats-core and @nats-io/jetstream).
  if (err instanceof natsErrors.AuthorizationError || err instanceof natsErrors.UserAuthenticationExpiredError) {
    return { transient: false, reason: 'NATS refused the credentials' };
  }
  if (err instanceof natsErrors.PermissionViolationError) return { transient: false, reason: 'NATS permission denied' };
  if (err instanceof natsErrors.InvalidArgumentError || err instanceof natsErrors.InvalidSubjectError) {
    return { transient: false, reason: 'invalid argument' };
  }
  // JetStreamNotEnabled (not exported by the client): no responders on $JS.API, or err_code 10039.
  if (err.name === 'JetStreamNotEnabled') return { transient: true, reason: 'JetStream not enabled (yet)' };
  if (err instanceof natsErrors.TimeoutError) return { transient: true, reason: 'NATS request timed out' };
  if (err instanceof natsErrors.RequestError) {
    if (err.isNoResponders()) return { transient: true, reason: 'no responders (JetStream not up yet)' };
    if (err.cause instanceof natsErrors.TimeoutError) return { transient: true, reason: 'NATS request timed out' };
  }
  if (err instanceof natsErrors.NoRespondersError) return { transient: true, reason: 'no responders (JetStream not up yet)' };
  if (err instanceof natsErrors.ConnectionError) return { transient: true, reason: 'NATS server not reachable' };
  if (err instanceof natsErrors.ClosedConnectionError || err instanceof natsErrors.DrainingConnectionError) {
    // The service itself closed the connection (shutting down): nothing to wait for.
    return { transient: false, reason: 'connection closed' };
  }
  if (err instanceof JetStreamApiError) {
    const known = TRANSIENT_JS_CODES[err.code];
    if (known) return { transient: true, reason: known };
    if (err.status === 503) return { transient: true, reason: 'JetStream unavailable (503)' };
    if (err.status === 408) return { transient: true, reason: 'JetStream request timed out (408)' };
    // Other API errors answer the request: the configuration is wrong, retrying repeats it.
    if (TRANSIENT_MESSAGE.test(err.message)) return { transient: true, reason: 'JetStream not ready' };
    return { transient: false, reason: `JetStream rejected the request (err_code ${err.code})` };
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ETIMEDOUT)$/.test(code)) {
    return { transient: true, reason: `NATS server not reachable (${code})` };
  }
  if (/Timeout|NoResponders/.test(err.name) || TRANSIENT_MESSAGE.test(err.message)) return { transient: true, reason: 'NATS not ready' };
  return { transient: false, reason: 'unexpected failure' };
}

/**
 * The wait before retry `attempt` (0-based): exponential from 200 ms, capped at 5 s, with "equal
 * jitter" (half fixed, half random) so replicas that failed together do not retry in step.
 */
export function startupBackoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(5_000, 200 * 2 ** Math.min(attempt, 10));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Start-up gave up waiting: names what did not answer and the setting that bounds the wait. */
export class StartupTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    readonly attempts: number,
    readonly lastError: unknown,
  ) {
    const last = lastError instanceof Error ? lastError.message : String(lastError);
    const reason = classifyStartupError(lastError).reason;
    super(
      `${what} did not answer within ${STARTUP_TIMEOUT_SETTING}=${secondsText(timeoutMs)} (${attempts} attempts; ` +
        `last: ${reason}: ${last}). Check that NATS_URL points at running nats-server(s) with JetStream enabled ` +
        `(a cluster needs a majority of its servers up to elect a leader), or raise ${STARTUP_TIMEOUT_SETTING}.`,
    );
    this.name = 'StartupTimeoutError';
  }
}

/** Milliseconds as whole seconds, or tenths below 10 s ("2", "0.3"). */
export function secondsText(ms: number): string {
  return String(ms >= 10_000 ? Math.round(ms / 1000) : Math.round(ms / 100) / 10);
}

export interface StartupRetryOptions {
  /** How long start-up may wait for NATS in all (every step shares it). */
  timeoutMs: number;
  /** Where each retry is reported (warn). */
  logger?: BusLogger;
  /** For tests: the random source of the jitter and the clock. */
  random?: () => number;
  now?: () => number;
}

/**
 * One start-up's patience: created once when a service starts, passed to every start-up step
 * (connect, declare, open buckets, load the config), which all share the one deadline.
 */
export class StartupRetry {
  readonly deadline: number;
  private readonly now: () => number;

  constructor(private readonly options: StartupRetryOptions) {
    this.now = options.now ?? Date.now;
    this.deadline = this.now() + options.timeoutMs;
  }

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  remainingMs(): number {
    return Math.max(0, this.deadline - this.now());
  }

  /**
   * Runs one start-up step until it succeeds: a transient failure (see classify) is retried
   * after a backoff with jitter until the deadline, then StartupTimeoutError; a permanent one is
   * thrown as it is.
   */
  async run<T>(what: string, step: () => Promise<T>, classify: (err: unknown) => StartupErrorClass = classifyStartupError): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await step();
      } catch (err) {
        const verdict = classify(err);
        if (!verdict.transient) throw err;
        const remaining = this.remainingMs();
        if (remaining <= 0) throw new StartupTimeoutError(what, this.options.timeoutMs, attempt + 1, err);
        const waitMs = Math.min(remaining, startupBackoffMs(attempt, this.options.random));
        this.options.logger?.warn(
          { waitingFor: what, attempt: attempt + 1, retryInMs: waitMs, remainingMs: remaining, reason: verdict.reason, err: (err as Error).message },
          `waiting for ${what}: ${verdict.reason}; retrying in ${waitMs} ms`,
        );
        await new Promise((r) => setTimeout(r, waitMs));
      }
    }
  }

  /** Waits for a promise no longer than the deadline (a watch that never catches up, say). */
  async within<T>(what: string, promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StartupTimeoutError(what, this.options.timeoutMs, 1, new Error('no answer before the deadline'))),
        this.remainingMs(),
      );
    });
    try {
      return await Promise.race([promise, expired]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** What a start-up step uses when its caller passed no StartupRetry (tests, tools). */
export function defaultStartupRetry(startup: StartupRetry | undefined, timeoutMs: number, logger?: BusLogger): StartupRetry {
  return startup ?? new StartupRetry({ timeoutMs, logger });
}
