import { describe, expect, it } from 'vitest';
import { defaultServiceName, telemetrySettings } from './settings.js';

const ingest = '/app/services/ingest/dist/index.js';

describe('telemetrySettings', () => {
  it.each([
    ['nothing set: tracing on, nothing exported', {}, { exportTraces: false, serviceName: 'inkstream-ingest', sampling: 'propagate-only' }],
    ['an OTLP endpoint', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, { exportTraces: true, sampling: 'record' }],
    ['a sampler given, with an exporter', { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, { exportTraces: true, sampling: 'from-env' }],
    ['a sampler given, without an exporter', { OTEL_TRACES_SAMPLER: 'always_on' }, { exportTraces: false, sampling: 'from-env' }],
    ['an empty sampler is not set', { OTEL_TRACES_SAMPLER: '' }, { sampling: 'propagate-only' }],
    ['a traces endpoint', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, { exportTraces: true }],
    ['an empty endpoint', { OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }, { exportTraces: false }],
    ['a named exporter without endpoint', { OTEL_TRACES_EXPORTER: 'console' }, { exportTraces: true }],
    ['exporter none wins over an endpoint', { OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, { exportTraces: false, sampling: 'propagate-only' }],
    ['a service name given', { OTEL_SERVICE_NAME: 'ingest-eu' }, { serviceName: undefined }],
    ['a service name in the resource attributes', { OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod, service.name=x' }, { serviceName: undefined }],
    ['other resource attributes only', { OTEL_RESOURCE_ATTRIBUTES: 'service.namespace=shop' }, { serviceName: 'inkstream-ingest' }],
    ['the SDK disabled', { OTEL_SDK_DISABLED: 'TRUE' }, { disabled: true }],
  ])('%s', (_name, env, expected) => {
    expect(telemetrySettings(env as Record<string, string>, ingest)).toMatchObject(expected);
  });
});

describe('defaultServiceName', () => {
  it.each([
    ['/app/services/delivery/dist/index.js', undefined, 'inkstream-delivery'],
    ['C:\\inkstream\\services\\filter\\dist\\index.js', undefined, 'inkstream-filter'],
    ['dist/index.js', '@inkstream/config', 'inkstream-config'],
    ['/usr/bin/node-app.js', 'other', 'inkstream'],
    [undefined, undefined, 'inkstream'],
  ])('%s (%s) → %s', (script, pkg, name) => {
    expect(defaultServiceName(script, pkg)).toBe(name);
  });
});
