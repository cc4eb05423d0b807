import { ROOT_CONTEXT, TraceFlags, context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type Sampler } from '@opentelemetry/sdk-trace';
import type { MsgHdrs } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { activeTraceFields } from './log-correlation.js';
import { activeTraceId, traceCarriedBatchProcess, tracePublish, traceProcess } from './messaging-spans.js';
import { injectTraceContext } from './nats-headers.js';
import { samplerFor } from './sdk.js';

const subject = 'inkstream.ingest.03';
const template = 'inkstream.ingest.{partition}';

/**
 * One tracer provider for the file (the messaging spans hold on to the first provider they
 * meet), whose sampler is the one a sampling mode gets in a service; spans kept in memory.
 */
const exporter = new InMemorySpanExporter();
let current: Sampler = samplerFor('propagate-only')!;
const provider = new TracerProvider({
  sampler: { shouldSample: (...args) => current.shouldSample(...args), toString: () => current.toString() },
  spanProcessors: [new SimpleSpanProcessor({ exporter })],
});

function install(sampling: 'record' | 'propagate-only') {
  current = samplerFor(sampling)!;
  exporter.reset();
  return { exporter, tracer: provider.getTracer('test') };
}

/** A request span in which ingest publishes one event; the headers the message carries. */
async function publishInRequest(tracer: ReturnType<typeof install>['tracer']) {
  const request = tracer.startSpan('POST /2/httpapi');
  const recording = request.isRecording(); // false once ended, whatever the sampler
  let sent: MsgHdrs | undefined;
  let logged: ReturnType<typeof activeTraceFields> = {};
  await context.with(trace.setSpan(ROOT_CONTEXT, request), async () => {
    logged = activeTraceFields();
    await tracePublish({ subject, template, messageId: 'm1' }, async (h) => {
      sent = h;
    });
  });
  request.end();
  return { request, recording, sent, logged };
}

describe('sampling', () => {
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(provider);
  });
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
    propagation.disable();
    context.disable();
  });

  it('propagate-only: nothing is recorded, yet the trace id reaches the headers, the logs and the next service', async () => {
    const installed = install('propagate-only');
    const { request, recording, sent, logged } = await publishInRequest(installed.tracer);
    expect(recording).toBe(false);
    const traceId = request.spanContext().traceId;
    expect(trace.isSpanContextValid(request.spanContext())).toBe(true);
    expect(logged.trace_id).toBe(traceId);
    // The message carries the trace (flag 00: not sampled).
    expect(sent?.get('traceparent')).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
    // The consumer's work belongs to the same trace: its outcomes and dead letters point at it.
    const seen = await traceProcess({ subject, template, consumer: 'filter-03', headers: sent }, async (span) => {
      expect(span.isRecording()).toBe(false);
      return activeTraceId();
    });
    expect(seen).toBe(traceId);
    expect(installed.exporter.getFinishedSpans()).toEqual([]);
  });

  it('record: every span of a trace is recorded and exported; a parent marked "not sampled" is respected', async () => {
    const installed = install('record');
    const { request, recording, sent } = await publishInRequest(installed.tracer);
    expect(recording).toBe(true);
    expect(sent?.get('traceparent')).toMatch(/-01$/);
    const traceId = request.spanContext().traceId;
    await traceProcess({ subject, template, consumer: 'filter-03', headers: sent }, async () => undefined);
    const names = installed.exporter.getFinishedSpans().map((s) => `${s.name} ${s.spanContext().traceId}`);
    expect(names).toEqual(
      expect.arrayContaining([`POST /2/httpapi ${traceId}`, `publish ${template} ${traceId}`, `process ${template} ${traceId}`]),
    );
    // A client's traceparent that says "not sampled": the trace id goes on, nothing is recorded.
    installed.exporter.reset();
    const unsampled = trace.setSpanContext(ROOT_CONTEXT, { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: TraceFlags.NONE, isRemote: true });
    const headers = injectTraceContext(unsampled)!;
    const seen = await traceProcess({ subject, template, consumer: 'filter-03', headers }, async () => activeTraceId());
    expect(seen).toBe('a'.repeat(32));
    expect(installed.exporter.getFinishedSpans()).toEqual([]);
  });

  it('propagate-only: a batch of payloads in traces of their own parses two contexts at most, links none, and still runs in the one context all share', async () => {
    install('propagate-only');
    const extract = vi.spyOn(W3CTraceContextPropagator.prototype, 'extract');
    try {
      const carrier = (i: number) => ({ traceparent: `00-${i.toString(16).padStart(32, 'a')}-${'b'.repeat(16)}-00` });
      const several = Array.from({ length: 100 }, (_, i) => carrier(i + 1));
      const seen = await traceCarriedBatchProcess({ subject, template, consumer: 'delivery-1', carriers: several }, async (span) => {
        expect(span.isRecording()).toBe(false);
        return activeTraceId();
      });
      // A trace of its own (not one of the payloads'), its ids real.
      expect(seen).toMatch(/^[0-9a-f]{32}$/);
      expect(several.map((c) => c.traceparent.slice(3, 35))).not.toContain(seen);
      expect(extract.mock.calls.length).toBeLessThanOrEqual(2);

      // One request's events (one context, the same traceparent repeated): parsed once, worked in it.
      extract.mockClear();
      const one = carrier(7);
      const shared = await traceCarriedBatchProcess(
        { subject, template, consumer: 'delivery-1', carriers: [undefined, {}, ...Array.from({ length: 50 }, () => ({ ...one, tracestate: 'k=v' }))] },
        async () => activeTraceId(),
      );
      expect(shared).toBe(one.traceparent.slice(3, 35));
      expect(extract.mock.calls.length).toBe(1);
    } finally {
      extract.mockRestore();
    }
  });
});
