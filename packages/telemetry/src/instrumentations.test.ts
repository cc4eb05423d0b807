import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROOT_CONTEXT, SpanKind, TraceFlags, context, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultInstrumentations } from './instrumentations.js';
import { startTestTelemetry, type TestTelemetry } from './testing.js';

const names = (sampling: Parameters<typeof defaultInstrumentations>[0]) =>
  defaultInstrumentations(sampling).map((i) => i.instrumentationName);

describe('undici instrumentation', () => {
  let telemetry: TestTelemetry;
  let server: Server;
  let url: string;
  const seen: IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    telemetry = startTestTelemetry();
    server = createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await telemetry.stop();
  });
  beforeEach(() => {
    telemetry.reset();
    seen.length = 0;
  });

  const clientSpans = () => telemetry.spans().filter((s) => s.kind === SpanKind.CLIENT);

  it('records a client span with the trace context for a request inside a recorded span', async () => {
    const parent = telemetry.startSpan('process');
    await context.with(trace.setSpan(ROOT_CONTEXT, parent), async () => {
      await (await fetch(url, { method: 'POST', body: '{}' })).text();
    });
    parent.end();
    const [client] = clientSpans();
    expect(client?.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(seen[0]?.traceparent).toBe(`00-${parent.spanContext().traceId}-${client!.spanContext().spanId}-01`);
  });

  it('leaves a request inside a span that is not recorded alone: no client span, no header', async () => {
    const unsampled = trace.wrapSpanContext({ traceId: '1'.repeat(32), spanId: '2'.repeat(16), traceFlags: TraceFlags.NONE });
    await context.with(trace.setSpan(ROOT_CONTEXT, unsampled), async () => {
      await (await fetch(url, { method: 'POST', body: '{}' })).text();
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.traceparent).toBeUndefined();
    expect(clientSpans()).toHaveLength(0);
  });

  it('is not installed when nothing is recorded (no exporter), and is otherwise', () => {
    expect(names('propagate-only')).not.toContain('@opentelemetry/instrumentation-undici');
    expect(names('record')).toContain('@opentelemetry/instrumentation-undici');
    expect(names('from-env')).toContain('@opentelemetry/instrumentation-undici');
  });

  it('leaves fastify uninstrumented when nothing is recorded', () => {
    const fastify = (sampling: Parameters<typeof defaultInstrumentations>[0]) => names(sampling).filter((n) => n.includes('fastify'));
    expect(fastify('propagate-only')).toEqual([]);
    expect(fastify('record')).toHaveLength(1);
    expect(fastify('from-env')).toHaveLength(1);
  });

  it('instruments nothing when nothing is recorded: the request context comes from requestTraceContext, without entering a context', () => {
    // The HTTP server span entered a context for every request (the ignored routes too), which
    // turns on async_hooks' promise hooks for the whole process (context-mode.test.ts).
    expect(names('propagate-only')).toEqual([]);
    expect(names('record')).toContain('@opentelemetry/instrumentation-http');
    expect(names('record')).toContain('@opentelemetry/instrumentation-pg');
    expect(names('from-env')).toContain('@opentelemetry/instrumentation-http');
  });
});
