import { context, propagation, trace, type SpanKind } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { fastifyInstrumentation, undiciInstrumentation } from './instrumentations.js';

export type { ReadableSpan };
export { SpanKind } from '@opentelemetry/api';

export interface TestTelemetry {
  /** Every span ended so far. */
  spans(): ReadableSpan[];
  /** The spans of one trace. */
  trace(traceId: string): ReadableSpan[];
  /** Starts a span to use as a parent (like a client with its own `traceparent`). */
  startSpan(name: string, kind?: SpanKind): ReturnType<ReturnType<typeof trace.getTracer>['startSpan']>;
  reset(): void;
  stop(): Promise<void>;
}

/**
 * In-process tracing for tests: spans kept in memory, W3C trace context, and the instrumentations
 * that need no loader hook (fastify and undici, both through diagnostics channels). Call `stop`
 * after the tests so the globals are released.
 */
export function startTestTelemetry(): TestTelemetry {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  const unregister = registerInstrumentations({
    instrumentations: [fastifyInstrumentation(), undiciInstrumentation()],
    tracerProvider: provider,
  });
  const tracer = provider.getTracer('test');
  return {
    spans: () => exporter.getFinishedSpans(),
    trace: (traceId) => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId),
    startSpan: (name, kind) => tracer.startSpan(name, kind === undefined ? {} : { kind }),
    reset: () => exporter.reset(),
    async stop() {
      unregister();
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
