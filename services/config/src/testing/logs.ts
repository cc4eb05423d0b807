import { pino, type Logger } from 'pino';
import { REDACTED_PATHS } from '@inkstream/service-kit';

export interface CapturedLogs {
  logger: Logger;
  /** Everything written so far, one JSON line per entry. */
  text(): string;
  lines(): Array<Record<string, unknown>>;
}

/** A logger configured like the kit's (same redaction), writing into memory at every level. */
export function captureLogs(): CapturedLogs {
  const chunks: string[] = [];
  const logger = pino(
    { level: 'trace', base: { service: 'config' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    { write: (chunk: string) => void chunks.push(chunk) },
  );
  return {
    logger,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
