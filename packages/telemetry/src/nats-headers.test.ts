import { context, trace } from '@opentelemetry/api';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractTraceContext, injectTraceContext } from './nats-headers.js';
import { startTestTelemetry, type TestTelemetry } from './testing.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';

describe('trace context through NATS headers', () => {
  let telemetry: TestTelemetry;
  beforeAll(() => {
    telemetry = startTestTelemetry();
  });
  afterAll(() => telemetry.stop());

  it('injects the active span as W3C traceparent into new headers', () => {
    const span = telemetry.startSpan('parent');
    const headers = context.with(trace.setSpan(context.active(), span), () => injectTraceContext());
    const { traceId, spanId } = span.spanContext();
    expect(headers?.get('traceparent')).toBe(`00-${traceId}-${spanId}-01`);
    span.end();
  });

  it('adds to headers it is given (the publish still sets its message id on them)', () => {
    const given = natsHeaders();
    given.set('x-other', '1');
    const span = telemetry.startSpan('parent');
    const headers = injectTraceContext(trace.setSpan(context.active(), span), given);
    expect(headers).toBe(given);
    expect(headers!.get('x-other')).toBe('1');
    expect(headers!.get('traceparent')).toContain(span.spanContext().traceId);
    span.end();
  });

  it('carries nothing without a span: no headers object at all', () => {
    expect(injectTraceContext(context.active())).toBeUndefined();
    const given = natsHeaders();
    expect(injectTraceContext(context.active(), given)).toBe(given);
    expect(given.keys()).toEqual([]);
  });

  it('extracts traceparent and tracestate, whatever the case of the header names', () => {
    const h = natsHeaders();
    h.set('Traceparent', `00-${TRACE_ID}-${SPAN_ID}-01`);
    h.set('TraceState', 'vendor=abc');
    const sc = trace.getSpanContext(extractTraceContext(h));
    expect(sc).toMatchObject({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1, isRemote: true });
    expect(sc?.traceState?.get('vendor')).toBe('abc');
  });

  it('round-trips: what one side injects the other extracts', () => {
    const span = telemetry.startSpan('producer');
    const sc = trace.getSpanContext(extractTraceContext(injectTraceContext(trace.setSpan(context.active(), span))));
    expect(sc).toMatchObject({ traceId: span.spanContext().traceId, spanId: span.spanContext().spanId });
    span.end();
  });

  it.each([
    ['no headers', undefined],
    ['no traceparent', (() => { const h = natsHeaders(); h.set('x', 'y'); return h; })()],
    ['a malformed traceparent', (() => { const h = natsHeaders(); h.set('traceparent', 'garbage'); return h; })()],
    ['an all-zero trace id', (() => { const h = natsHeaders(); h.set('traceparent', `00-${'0'.repeat(32)}-${SPAN_ID}-01`); return h; })()],
  ])('extracts no parent from %s', (_name, h) => {
    expect(trace.getSpanContext(extractTraceContext(h))).toBeUndefined();
  });

  it('ignores whatever span is active when the message has its own context', () => {
    const h = natsHeaders();
    h.set('traceparent', `00-${TRACE_ID}-${SPAN_ID}-01`);
    const active = telemetry.startSpan('unrelated');
    const sc = context.with(trace.setSpan(context.active(), active), () => trace.getSpanContext(extractTraceContext(h)));
    expect(sc?.traceId).toBe(TRACE_ID);
    const none = context.with(trace.setSpan(context.active(), active), () => trace.getSpanContext(extractTraceContext(undefined)));
    expect(none).toBeUndefined();
    active.end();
  });
});
