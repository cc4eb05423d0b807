/**
 * What the standard OTEL_* environment asks of a service's telemetry, decided once at start-up.
 * Pure, so the rules are tested as a table.
 */
export interface TelemetrySettings {
  /** OTEL_SDK_DISABLED=true: no SDK at all (no spans, no trace ids in logs or outcomes). */
  disabled: boolean;
  /**
   * The service name to set, or undefined when OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES
   * already name it (the SDK reads those itself).
   */
  serviceName: string | undefined;
  /**
   * True when spans leave the process: an OTLP endpoint is set, or OTEL_TRACES_EXPORTER names an
   * exporter. Otherwise tracing stays on without an exporter, so trace ids are still real.
   */
  exportTraces: boolean;
  /**
   * Which spans are recorded:
   * - `from-env`: OTEL_TRACES_SAMPLER is set, the SDK's own sampler from the environment;
   * - `record`: spans are exported, so every span is recorded (one trace per event reachable in
   *   the collector), except under a parent marked "not sampled" (a client's `traceparent`
   *   saying so is respected: parentbased_always_on, the SDK's default);
   * - `propagate-only`: nothing is exported, so nothing is recorded — spans are non-recording
   *   (no attributes, events or processors), yet each has real trace and span ids that reach
   *   the message headers, outcomes, dead letters and logs.
   */
  sampling: 'from-env' | 'record' | 'propagate-only';
}

type Env = Record<string, string | undefined>;

const set = (value: string | undefined): value is string => value !== undefined && value.trim() !== '';

export function telemetrySettings(env: Env, entryScript: string | undefined): TelemetrySettings {
  const named = set(env.OTEL_SERVICE_NAME) || /(^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '');
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'null');
  const exportTraces =
    exporters.length > 0
      ? !exporters.every((e) => e === 'none')
      : set(env.OTEL_EXPORTER_OTLP_ENDPOINT) || set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  return {
    disabled: (env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true',
    serviceName: named ? undefined : defaultServiceName(entryScript, env.npm_package_name),
    exportTraces,
    sampling: set(env.OTEL_TRACES_SAMPLER) ? 'from-env' : exportTraces ? 'record' : 'propagate-only',
  };
}

/**
 * `inkstream-<service>` from the program being run (`…/services/ingest/dist/index.js`) or from
 * the package npm runs (`@inkstream/ingest`), so every launch path names its service alike.
 */
export function defaultServiceName(entryScript: string | undefined, npmPackageName: string | undefined): string {
  const fromPath = /[/\\]services[/\\]([a-z0-9-]+)[/\\]/i.exec(entryScript ?? '')?.[1];
  if (fromPath) return `inkstream-${fromPath.toLowerCase()}`;
  const fromPackage = /^@inkstream\/([a-z0-9-]+)$/.exec(npmPackageName ?? '')?.[1];
  if (fromPackage) return `inkstream-${fromPackage}`;
  return 'inkstream';
}
