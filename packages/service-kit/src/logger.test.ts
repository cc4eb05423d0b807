import { Writable } from 'node:stream';
import { context, trace } from '@opentelemetry/api';
import { startTestTelemetry } from '@inkstream/telemetry/testing';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { lines, logger: createLogger('t', 'info', stream) };
}

describe('createLogger', () => {
  it('puts the active span’s trace and span id on every line written inside it, and nothing outside', async () => {
    const telemetry = startTestTelemetry();
    try {
      const { lines, logger } = capture();
      const span = telemetry.startSpan('attempt');
      context.with(trace.setSpan(context.active(), span), () => {
        logger.info({ attempt: 1 }, 'attempt');
        logger.child({ sync: 's1' }).warn('held');
      });
      logger.info('outside');
      span.end();
      const { traceId, spanId } = span.spanContext();
      expect(lines[0]).toMatchObject({ msg: 'attempt', attempt: 1, trace_id: traceId, span_id: spanId });
      expect(lines[1]).toMatchObject({ msg: 'held', sync: 's1', trace_id: traceId, span_id: spanId });
      expect(lines[2]).not.toHaveProperty('trace_id');
    } finally {
      await telemetry.stop();
    }
  });

  it('still redacts secrets', () => {
    const { lines, logger } = capture();
    logger.info({ authorization: 'Basic c2VjcmV0', sync: { apiKey: 'k' } }, 'x');
    expect(lines[0]).toMatchObject({ authorization: '[redacted]', sync: { apiKey: '[redacted]' } });
  });
});
