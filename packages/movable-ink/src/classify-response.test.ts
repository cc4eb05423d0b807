import { describe, expect, it } from 'vitest';
import { classifyResponse, parseRetryAfter } from './classify-response.js';

const now = Date.parse('2026-11-29T10:00:00Z');

describe('classifyResponse', () => {
  it.each([
    [{ status: 200 }, { kind: 'delivered' }],
    [{ status: 202 }, { kind: 'delivered' }],
    [{ status: 204 }, { kind: 'delivered' }],
    [{ status: 429 }, { kind: 'throttled' }],
    [{ status: 429, retryAfter: '7' }, { kind: 'throttled', retryAfterMs: 7000 }],
    [{ status: 429, retryAfter: 'Sun, 29 Nov 2026 10:00:30 GMT' }, { kind: 'throttled', retryAfterMs: 30_000 }],
    [{ status: 429, retryAfter: 'soon' }, { kind: 'throttled' }],
    [{ status: 408 }, { kind: 'retry' }],
    [{ status: 500 }, { kind: 'retry' }],
    [{ status: 502 }, { kind: 'retry' }],
    [{ status: 503, retryAfter: '2' }, { kind: 'retry', retryAfterMs: 2000 }],
    [{ status: 504 }, { kind: 'retry' }],
    [{ status: 501 }, { kind: 'rejected' }],
    [{ status: 401 }, { kind: 'failing' }],
    [{ status: 403 }, { kind: 'failing' }],
    [{ status: 404 }, { kind: 'failing' }],
    [{ status: 413 }, { kind: 'too-large' }],
    [{ status: 400 }, { kind: 'rejected' }],
    [{ status: 422 }, { kind: 'rejected' }],
    [{ status: 301 }, { kind: 'rejected' }],
    [{ error: new Error('ECONNRESET') }, { kind: 'retry' }],
    [{}, { kind: 'retry' }],
  ])('%j → %j', (result, expected) => {
    expect(classifyResponse(result, now)).toEqual(expected);
  });
});

describe('parseRetryAfter', () => {
  it.each([
    [undefined, undefined],
    ['', undefined],
    ['0', 0],
    ['120', 120_000],
    ['999999', 3_600_000],
    ['Sun, 29 Nov 2026 09:59:00 GMT', 0],
    ['-5', undefined],
    ['1.5', undefined],
  ])('%j → %j', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});
