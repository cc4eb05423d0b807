import { InvalidInputError } from '../errors.js';

const MINUTE_MS = 60_000;

/** The periods of Amplitude's delivery-metrics API, in minutes. */
export const METRICS_PERIODS = {
  TEN_MINUTES: 10,
  ONE_HOUR: 60,
  FOUR_HOURS: 4 * 60,
  ONE_DAY: 24 * 60,
  ONE_WEEK: 7 * 24 * 60,
  TWO_WEEKS: 14 * 24 * 60,
} as const;
export type MetricsPeriod = keyof typeof METRICS_PERIODS;
export const DEFAULT_METRICS_PERIOD: MetricsPeriod = 'ONE_DAY';

export interface MetricsQuery {
  period?: MetricsPeriod | undefined;
  /** ISO 8601 date-times (validated by the route schema). */
  start?: string | undefined;
  end?: string | undefined;
}

export interface MetricsWindow {
  timePeriod: MetricsPeriod | 'CUSTOM';
  /** Inclusive, on a whole minute. */
  start: Date;
  /** Exclusive, on a whole minute. */
  end: Date;
}

/**
 * The whole minutes a metrics request covers. Counters are kept per minute, so a window is
 * made of whole minutes: a period ends with the current minute (included, up to now) and
 * reaches back its length; a custom range is widened to the minutes its ends fall in.
 */
export function metricsWindow(query: MetricsQuery, now: number): MetricsWindow {
  const custom = query.start !== undefined || query.end !== undefined;
  if (custom && query.period !== undefined) {
    throw new InvalidInputError('querystring', 'must give either period or start and end, not both');
  }
  if (!custom) {
    const period = query.period ?? DEFAULT_METRICS_PERIOD;
    const end = ceilMinute(now + 1);
    return { timePeriod: period, start: new Date(end - METRICS_PERIODS[period] * MINUTE_MS), end: new Date(end) };
  }
  if (query.start === undefined) throw new InvalidInputError('querystring/start', 'must be given with end');
  if (query.end === undefined) throw new InvalidInputError('querystring/end', 'must be given with start');
  const start = Date.parse(query.start);
  const end = Date.parse(query.end);
  if (Number.isNaN(start)) throw new InvalidInputError('querystring/start', 'must be an ISO 8601 date-time');
  if (Number.isNaN(end)) throw new InvalidInputError('querystring/end', 'must be an ISO 8601 date-time');
  if (end <= start) throw new InvalidInputError('querystring/end', 'must be after start');
  return { timePeriod: 'CUSTOM', start: new Date(floorMinute(start)), end: new Date(ceilMinute(end)) };
}

const floorMinute = (ms: number) => Math.floor(ms / MINUTE_MS) * MINUTE_MS;
const ceilMinute = (ms: number) => Math.ceil(ms / MINUTE_MS) * MINUTE_MS;
