import { context, propagation, trace, type Context, type SpanKind } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  InMemorySpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TracerProvider,
  type ReadableSpan,
  type Sampler,
} from '@opentelemetry/sdk-trace';
import { fastifyInstrumentation, undiciInstrumentation } from './instrumentations.js';
import { setRunningTelemetry } from './running.js';

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
  /**
   * How many times a context was entered (`context.with`: an AsyncLocalStorage store entered,
   * which on Node 20 turns on async_hooks' promise hooks for the rest of the process).
   */
  contextsEntered(): number;
  stop(): Promise<void>;
}

export interface TestTelemetryOptions {
  /**
   * `record` (default): every span recorded, the fastify and undici instrumentations on, the
   * active context following async work. `propagate-only`: as a service without an exporter —
   * nothing recorded (spans still have real ids), no instrumentation, and work handed its
   * context instead of entering one (context-mode.ts).
   */
  sampling?: 'record' | 'propagate-only';
}

/** The AsyncLocalStorage context manager, counting the contexts entered. */
class CountingContextManager extends AsyncLocalStorageContextManager {
  entered = 0;
  override with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    this.entered++;
    return super.with(ctx, fn, thisArg, ...args);
  }
}

/**
 * One tracer provider for the process, whose sampler each start sets: a tracer got from the API
 * holds on to the first provider it meets (the messaging spans' tracer is made once), so a second
 * provider would not see their spans.
 */
const exporter = new InMemorySpanExporter();
let sampler: Sampler = new ParentBasedSampler({ root: new AlwaysOnSampler() });
let shared: TracerProvider | undefined;
const sharedProvider = () =>
  (shared ??= new TracerProvider({
    sampler: { shouldSample: (...args) => sampler.shouldSample(...args), toString: () => sampler.toString() },
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  }));

/**
 * In-process tracing for tests: spans kept in memory, W3C trace context, and the instrumentations
 * that need no loader hook (fastify and undici, both through diagnostics channels). Call `stop`
 * after the tests so the globals are released.
 */
export function startTestTelemetry(options: TestTelemetryOptions = {}): TestTelemetry {
  const propagateOnly = options.sampling === 'propagate-only';
  // Record: the SDK's default (parentbased_always_on); propagate-only: a service's without an exporter (sdk.ts samplerFor).
  sampler = propagateOnly ? new AlwaysOffSampler() : new ParentBasedSampler({ root: new AlwaysOnSampler() });
  exporter.reset();
  const provider = sharedProvider();
  const contextManager = new CountingContextManager();
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  if (propagateOnly) {
    setRunningTelemetry({
      settings: { disabled: false, serviceName: undefined, exportTraces: false, sampling: 'propagate-only' },
      shutdown: () => provider.forceFlush(),
    });
  }
  const unregister = registerInstrumentations({
    instrumentations: propagateOnly ? [] : [fastifyInstrumentation(), undiciInstrumentation()],
    tracerProvider: provider,
  });
  const tracer = provider.getTracer('test');
  return {
    spans: () => exporter.getFinishedSpans(),
    trace: (traceId) => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId),
    startSpan: (name, kind) => tracer.startSpan(name, kind === undefined ? {} : { kind }),
    reset: () => {
      exporter.reset();
      contextManager.entered = 0;
    },
    contextsEntered: () => contextManager.entered,
    async stop() {
      unregister();
      if (propagateOnly) setRunningTelemetry(undefined);
      await provider.forceFlush();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
