import { activeTraceFields } from '@inkstream/telemetry';
import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Every path a secret can appear under. pino replaces them with "[redacted]" before the line
 * is written, so neither request logs nor error objects leak a credential.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  '*.authorization',
  '*.*.authorization',
  'api_key',
  '*.api_key',
  'apiKey',
  '*.apiKey',
  'accessSecret',
  '*.accessSecret',
  '*.*.accessSecret',
  'adminToken',
  'secretKey',
];

/**
 * A pino logger with secrets redacted; `destination` lets tests capture the lines. A line
 * written inside a traced context carries the `trace_id` and `span_id` of the active span.
 */
export function createLogger(service: string, level: string, destination?: DestinationStream): Logger {
  return pino({
    name: service,
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    mixin: activeTraceFields,
  }, destination);
}

export type { Logger };
