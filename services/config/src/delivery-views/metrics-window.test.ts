import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../errors.js';
import { metricsWindow, type MetricsQuery } from './metrics-window.js';

const now = Date.parse('2026-03-10T12:34:56.789Z');

describe('metricsWindow', () => {
  it.each<[MetricsQuery, string, string, string]>([
    [{}, 'ONE_DAY', '2026-03-09T12:35:00.000Z', '2026-03-10T12:35:00.000Z'],
    [{ period: 'TEN_MINUTES' }, 'TEN_MINUTES', '2026-03-10T12:25:00.000Z', '2026-03-10T12:35:00.000Z'],
    [{ period: 'ONE_HOUR' }, 'ONE_HOUR', '2026-03-10T11:35:00.000Z', '2026-03-10T12:35:00.000Z'],
    [{ period: 'FOUR_HOURS' }, 'FOUR_HOURS', '2026-03-10T08:35:00.000Z', '2026-03-10T12:35:00.000Z'],
    [{ period: 'ONE_WEEK' }, 'ONE_WEEK', '2026-03-03T12:35:00.000Z', '2026-03-10T12:35:00.000Z'],
    [{ period: 'TWO_WEEKS' }, 'TWO_WEEKS', '2026-02-24T12:35:00.000Z', '2026-03-10T12:35:00.000Z'],
    [{ start: '2026-03-01T06:00:00Z', end: '2026-03-02T06:00:00Z' }, 'CUSTOM', '2026-03-01T06:00:00.000Z', '2026-03-02T06:00:00.000Z'],
    [{ start: '2026-03-01T06:00:30Z', end: '2026-03-01T06:01:10+00:00' }, 'CUSTOM', '2026-03-01T06:00:00.000Z', '2026-03-01T06:02:00.000Z'],
    [{ start: '2026-03-01T08:00:00+02:00', end: '2026-03-01T06:30:00Z' }, 'CUSTOM', '2026-03-01T06:00:00.000Z', '2026-03-01T06:30:00.000Z'],
  ])('%o', (query, timePeriod, start, end) => {
    const window = metricsWindow(query, now);
    expect({ timePeriod: window.timePeriod, start: window.start.toISOString(), end: window.end.toISOString() }).toEqual({ timePeriod, start, end });
  });

  it('includes the current minute even on its first millisecond', () => {
    expect(metricsWindow({ period: 'TEN_MINUTES' }, Date.parse('2026-03-10T12:34:00.000Z')).end.toISOString()).toBe('2026-03-10T12:35:00.000Z');
  });

  it.each<[MetricsQuery, string]>([
    [{ period: 'ONE_DAY', start: '2026-03-01T00:00:00Z', end: '2026-03-02T00:00:00Z' }, 'querystring must give either period or start and end, not both'],
    [{ start: '2026-03-01T00:00:00Z' }, 'querystring/end must be given with start'],
    [{ end: '2026-03-01T00:00:00Z' }, 'querystring/start must be given with end'],
    [{ start: '2026-03-02T00:00:00Z', end: '2026-03-01T00:00:00Z' }, 'querystring/end must be after start'],
    [{ start: '2026-03-01T00:00:00Z', end: '2026-03-01T00:00:00Z' }, 'querystring/end must be after start'],
    [{ start: 'yesterday', end: '2026-03-01T00:00:00Z' }, 'querystring/start must be an ISO 8601 date-time'],
  ])('refuses %o', (query, message) => {
    expect(() => metricsWindow(query, now)).toThrow(InvalidInputError);
    expect(() => metricsWindow(query, now)).toThrow(message);
  });
});
