import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable, loggableError } from './errors.js';

const coded = (code: string, message = 'boom') => Object.assign(new Error(message), { code });
const drizzleError = (cause: unknown) =>
  Object.assign(new Error('Failed query: insert into "syncs" values ($1)\nparams: v1.sealed,Basic ****abcdef'), {
    name: 'DrizzleQueryError',
    cause,
  });

describe('isDatabaseUnavailable', () => {
  it.each<[string, unknown, boolean]>([
    ['connection refused', coded('ECONNREFUSED'), true],
    ['reset', coded('ECONNRESET'), true],
    ['unknown host', coded('ENOTFOUND'), true],
    ['admin shutdown', coded('57P01', 'terminating connection due to administrator command'), true],
    ['starting up', coded('57P03', 'the database system is starting up'), true],
    ['too many connections', coded('53300'), true],
    ['connection exception class', coded('08006'), true],
    ['pool timeout', new Error('timeout exceeded when trying to connect'), true],
    ['terminated', new Error('Connection terminated unexpectedly'), true],
    ['pool ended', new Error('Cannot use a pool after calling end on the pool'), true],
    ['wrapped by drizzle', drizzleError(coded('ECONNREFUSED')), true],
    ['a unique violation', coded('23505', 'duplicate key value'), false],
    ['a syntax error wrapped by drizzle', drizzleError(coded('42601')), false],
    ['not an error', 'nope', false],
    ['null', null, false],
  ])('%s → %s', (_name, err, expected) => {
    expect(isDatabaseUnavailable(err)).toBe(expected);
  });

  it('survives a cause cycle', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    a.cause = a;
    expect(isDatabaseUnavailable(a)).toBe(false);
  });
});

describe('loggableError', () => {
  it('keeps the driver message and code of a query error, never its parameters', () => {
    const logged = loggableError(drizzleError(coded('23505', 'duplicate key value violates unique constraint')));
    expect(logged).toMatchObject({ message: 'duplicate key value violates unique constraint', code: '23505' });
    expect(JSON.stringify(logged)).not.toContain('params');
    expect(JSON.stringify(logged)).not.toContain('v1.sealed');
  });

  it.each([
    [new TypeError('bad'), { name: 'TypeError', message: 'bad' }],
    ['a string', { name: 'Error', message: 'a string' }],
  ])('describes %j', (err, expected) => {
    expect(loggableError(err)).toMatchObject(expected);
  });
});
