import { diag } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { AlwaysOffSampler, AlwaysOnSampler, NoopSpanProcessor, ParentBasedSampler, type Sampler } from '@opentelemetry/sdk-trace';
import { defaultInstrumentations } from './instrumentations.js';
import { runningTelemetry, setRunningTelemetry, type RunningTelemetry } from './running.js';
import { telemetrySettings } from './settings.js';

export interface StartTelemetryOptions {
  /** Default: http, fastify, undici (unless nothing is recorded) and pg (instrumentations.ts). */
  instrumentations?: Instrumentation[];
}

/**
 * Starts @opentelemetry/sdk-node from the standard OTEL_* variables: W3C trace context, the
 * instrumentations of the services (http, fastify, undici, pg) and, when an exporter is
 * configured (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
 * `OTEL_TRACES_EXPORTER`), a batching exporter chosen by the SDK (protocol from
 * `OTEL_EXPORTER_OTLP_PROTOCOL`, timing from `OTEL_BSP_*`) and every span recorded. Without
 * one, spans are not recorded (a sampler that records nothing, so a span costs little more than
 * its ids) but their trace context still propagates — trace ids reach the messages, outcomes,
 * dead letters and logs (settings.ts `sampling`). OTEL_TRACES_SAMPLER, when set, wins. Metrics are Prometheus (`/metrics`) and logs pino, so the SDK's own metric and log
 * pipelines stay off. Idempotent.
 */
export function startTelemetry(options: StartTelemetryOptions = {}): RunningTelemetry | undefined {
  const already = runningTelemetry();
  if (already) return already;
  // The program's entry script names the service when OTEL_SERVICE_NAME is unset.
  const settings = telemetrySettings(process.env, process.argv[1]);
  if (settings.disabled) return undefined;
  const sdk = new NodeSDK({
    ...(settings.serviceName ? { serviceName: settings.serviceName } : {}),
    instrumentations: options.instrumentations ?? defaultInstrumentations(settings.sampling),
    ...(settings.exportTraces ? {} : { spanProcessors: [new NoopSpanProcessor()] }),
    ...(samplerFor(settings.sampling) ? { sampler: samplerFor(settings.sampling) } : {}),
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  let stopping: Promise<void> | undefined;
  const running: RunningTelemetry = {
    settings,
    shutdown: () => {
      stopping ??= sdk.shutdown().catch((err: unknown) => diag.error('telemetry shutdown failed', err));
      return stopping;
    },
  };
  setRunningTelemetry(running);
  return running;
}

/** The sampler for a sampling mode; undefined: the SDK reads OTEL_TRACES_SAMPLER itself. */
export function samplerFor(sampling: 'from-env' | 'record' | 'propagate-only'): Sampler | undefined {
  switch (sampling) {
    case 'from-env':
      return undefined;
    case 'record':
      // The SDK's own default (parentbased_always_on), spelled out: a client's unsampled
      // `traceparent` is respected. Every service should export alike — one without an exporter
      // marks its messages "not sampled", and the services after it follow that mark.
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'propagate-only':
      return new AlwaysOffSampler();
  }
}
