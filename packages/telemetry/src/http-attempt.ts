import { context, createContextKey, type Context } from '@opentelemetry/api';
import { contextFollowsAsyncWork } from './context-mode.js';

/** Attribute of the HTTP client span: which attempt of the payload this request is (1 = first). */
export const ATTR_ATTEMPT = 'inkstream.attempt';

// createContextKey uses Symbol.for, so the key is the same wherever this module is loaded from.
const ATTEMPT = createContextKey('inkstream.http.attempt');

/**
 * Runs `send` with the attempt number in the active context; the undici instrumentation reads it
 * when the request is created and records it on the HTTP client span.
 */
export function withHttpAttempt<T>(attempt: number, send: () => T): T {
  // Nothing reads it when nothing is recorded (undici is not instrumented then): no store entered.
  if (!contextFollowsAsyncWork()) return send();
  return context.with(context.active().setValue(ATTEMPT, attempt), send);
}

export function httpAttemptOf(ctx: Context = context.active()): number | undefined {
  const value = ctx.getValue(ATTEMPT);
  return typeof value === 'number' ? value : undefined;
}
