import { describe, expect, it } from 'vitest';
import { traceContextOf } from './trace-context.js';

const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('traceContextOf', () => {
  it('keeps a well-formed traceparent and its tracestate', () => {
    expect(traceContextOf({ traceparent: valid, tracestate: 'congo=t61rcWkgMzE' })).toEqual({ traceparent: valid, tracestate: 'congo=t61rcWkgMzE' });
    expect(traceContextOf({ traceparent: [valid, 'other'] })).toEqual({ traceparent: valid });
    expect(traceContextOf({})).toEqual({});
  });

  it.each([
    ['upper case', valid.toUpperCase()],
    ['version ff', `ff${valid.slice(2)}`],
    ['a zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['a zero parent id', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'],
    ['a short trace id', '00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01'],
    ['trailing data', `${valid}-extra`],
  ])('drops a traceparent with %s, and the tracestate with it', (_name, traceparent) => {
    expect(traceContextOf({ traceparent, tracestate: 'a=b' })).toEqual({});
  });

  it('drops an oversized tracestate', () => {
    expect(traceContextOf({ traceparent: valid, tracestate: 'a='.padEnd(600, 'b') })).toEqual({ traceparent: valid });
  });
});
