import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@inkstream/service-kit';

/** A delivery logger at `level` (info by default) whose JSON lines are kept, parsed, in `lines`. */
export function captureLogs(level = 'info'): { lines: Array<Record<string, unknown>>; log: Logger } {
  const lines: Array<Record<string, unknown>> = [];
  const out = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createLogger('delivery-test', level, out) };
}
