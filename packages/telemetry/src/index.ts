// What services use at run time. The SDK itself starts from `@inkstream/telemetry/register`
// (and tests use `@inkstream/telemetry/testing`), so importing this stays light.
export * from './settings.js';
export * from './running.js';
export * from './http-attempt.js';
export * from './nats-headers.js';
export * from './messaging-spans.js';
export * from './log-correlation.js';
export type { Context, Span } from '@opentelemetry/api';
export * from './trace-carrier.js';
export * from './context-mode.js';
export * from './request-context.js';
