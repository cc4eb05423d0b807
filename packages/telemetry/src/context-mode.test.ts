import { spawn } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { context, trace } from '@opentelemetry/api';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { contextFollowsAsyncWork } from './context-mode.js';
import { withHttpAttempt } from './http-attempt.js';
import { explicitTraceFields, traceFieldsOf } from './log-correlation.js';
import { traceCarriedBatchProcess, traceCarriedProcess, traceIdOf, traceProcess } from './messaging-spans.js';
import { requestTraceContext } from './request-context.js';
import { startTestTelemetry, type TestTelemetry } from './testing.js';

const info = { subject: 'inkstream.ingest.03', template: 'inkstream.ingest.{partition}', consumer: 'filter-03' };
const client = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' };
const traceparent = `00-${client.traceId}-${client.spanId}-01`;

describe('without an exporter (propagate-only): no context is entered, the work is handed its context', () => {
  let telemetry: TestTelemetry | undefined;
  afterEach(async () => {
    await telemetry?.stop();
    telemetry = undefined;
  });

  it('a consumed message: its span’s work gets the message’s trace, the active context stays the caller’s', async () => {
    telemetry = startTestTelemetry({ sampling: 'propagate-only' });
    expect(contextFollowsAsyncWork()).toBe(false);
    const headers = natsHeaders();
    headers.set('traceparent', traceparent);
    const seen = await traceProcess({ ...info, headers }, async (span, ctx) => {
      await Promise.resolve();
      expect(span.isRecording()).toBe(false);
      expect(trace.getSpan(context.active())).toBeUndefined();
      // Log lines about the work carry its ids themselves (the logger's mixin sees no active span).
      expect(explicitTraceFields(ctx)).toEqual(traceFieldsOf(ctx));
      expect(explicitTraceFields(ctx).trace_id).toBe(client.traceId);
      return { traceId: traceIdOf(ctx), spanId: trace.getSpan(ctx)?.spanContext().spanId };
    });
    expect(seen.traceId).toBe(client.traceId);
    expect(seen.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(seen.spanId).not.toBe(client.spanId);

    const carried = await traceCarriedProcess({ ...info, carrier: { traceparent } }, async (_span, ctx) => traceIdOf(ctx));
    expect(carried).toBe(client.traceId);
    const batch = await traceCarriedBatchProcess({ ...info, carriers: [{ traceparent }, { traceparent }] }, async (_span, ctx) => traceIdOf(ctx));
    expect(batch).toBe(client.traceId);
    expect(withHttpAttempt(2, () => 'sent')).toBe('sent');

    expect(telemetry.contextsEntered()).toBe(0);
    expect(telemetry.spans()).toEqual([]);
  });

  it('an HTTP request: a span of the client’s trace with real ids, made once per request', () => {
    telemetry = startTestTelemetry({ sampling: 'propagate-only' });
    const request = { method: 'POST', url: '/2/httpapi', headers: { traceparent } } as unknown as IncomingMessage;
    const ctx = requestTraceContext(request);
    const sc = trace.getSpan(ctx)!.spanContext();
    expect(sc.traceId).toBe(client.traceId);
    expect(sc.spanId).not.toBe(client.spanId);
    expect(sc.traceFlags).toBe(0); // nothing recorded: the next services are told so
    expect(requestTraceContext(request)).toBe(ctx);
    // Without a traceparent: a trace of its own.
    const own = traceIdOf(requestTraceContext({ method: 'GET', url: '/', headers: {} } as unknown as IncomingMessage));
    expect(own).toMatch(/^[0-9a-f]{32}$/);
    expect(own).not.toBe(client.traceId);
    expect(telemetry.contextsEntered()).toBe(0);
  });

  it('when spans are recorded, the work runs in its span’s context as before (and the count sees it)', async () => {
    telemetry = startTestTelemetry();
    expect(contextFollowsAsyncWork()).toBe(true);
    const headers = natsHeaders();
    headers.set('traceparent', traceparent);
    const active = await traceProcess({ ...info, headers }, async (_span, ctx) => {
      await Promise.resolve();
      expect(explicitTraceFields(ctx)).toEqual({});
      return trace.getSpan(context.active())?.spanContext().traceId;
    });
    expect(active).toBe(client.traceId);
    expect(telemetry.contextsEntered()).toBeGreaterThan(0);
  });
});

describe('a service process without an exporter (node --import @inkstream/telemetry/register)', () => {
  it('never turns on async_hooks’ promise hooks: not for /healthz, /metrics, a traced request or a consumed message', async () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const child = spawn(process.execPath, ['--import', join(here, '../dist/register.js'), join(here, 'untraced-process.fixture.mjs')], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    const report = JSON.parse(out) as Record<string, unknown>;
    expect(report).toEqual({
      // executionAsyncId() in a promise continuation is 0 while no promise hook is on.
      hooksOnBefore: false,
      hooksOnAfter: false,
      requestTraceId: client.traceId,
      messageTraceId: client.traceId,
      // The check itself: entering a store once turns them on.
      hooksOnAfterEnteringAStore: true,
    });
  });
});
