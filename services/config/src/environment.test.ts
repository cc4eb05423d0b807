import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EnvironmentError } from '@inkstream/service-kit';
import { parseConfigEnvironment } from './environment.js';

const valid = {
  ADMIN_TOKEN: 'a-token-of-24-characters',
  SECRET_KEY: randomBytes(32).toString('hex'),
};

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    parseConfigEnvironment(env);
  } catch (err) {
    if (err instanceof EnvironmentError) return err.problems;
    throw err;
  }
  return [];
}

describe('config environment', () => {
  it('applies the documented defaults', () => {
    const env = parseConfigEnvironment(valid);
    expect(env).toMatchObject({
      CONFIG_PORT: 8081,
      PGLITE_DIR: './.data/pglite',
      ALLOW_PRIVATE_ENDPOINTS: false,
      NATS_URL: 'nats://127.0.0.1:4222',
      LOG_LEVEL: 'info',
    });
    expect(env.DATABASE_URL).toBeUndefined();
  });

  it('reads every setting', () => {
    const env = parseConfigEnvironment({
      ...valid,
      CONFIG_PORT: '9000',
      DATABASE_URL: 'postgres://u@db:5432/inkstream',
      PGLITE_DIR: '/var/lib/pglite',
      ALLOW_PRIVATE_ENDPOINTS: 'true',
    });
    expect(env).toMatchObject({
      CONFIG_PORT: 9000,
      DATABASE_URL: 'postgres://u@db:5432/inkstream',
      PGLITE_DIR: '/var/lib/pglite',
      ALLOW_PRIVATE_ENDPOINTS: true,
    });
  });

  it('takes SECRET_KEY_PREVIOUS for a rotation, and nothing when it is empty', () => {
    const previous = randomBytes(32).toString('hex');
    expect(parseConfigEnvironment({ ...valid, SECRET_KEY_PREVIOUS: previous }).SECRET_KEY_PREVIOUS).toBe(previous);
    expect(parseConfigEnvironment({ ...valid, SECRET_KEY_PREVIOUS: '' }).SECRET_KEY_PREVIOUS).toBeUndefined();
  });

  it('accepts a base64 SECRET_KEY', () => {
    expect(() => parseConfigEnvironment({ ...valid, SECRET_KEY: randomBytes(32).toString('base64') })).not.toThrow();
  });

  it.each([
    [{ ADMIN_TOKEN: undefined }, /^ADMIN_TOKEN: .*not set/],
    [{ ADMIN_TOKEN: 'short' }, /^ADMIN_TOKEN: .*16.*given \(hidden\)/],
    [{ SECRET_KEY: undefined }, /^SECRET_KEY: .*not set/],
    [{ SECRET_KEY: 'not-a-key' }, /^SECRET_KEY: must be 32 bytes.*given \(hidden\)/],
    [{ SECRET_KEY: randomBytes(16).toString('hex') }, /^SECRET_KEY: must be 32 bytes/],
    [{ SECRET_KEY_PREVIOUS: 'old-key-typo' }, /^SECRET_KEY_PREVIOUS: must be 32 bytes.*given \(hidden\)/],
    [{ CONFIG_PORT: 'eighty' }, /^CONFIG_PORT: /],
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL: /],
    [{ ALLOW_PRIVATE_ENDPOINTS: 'maybe' }, /^ALLOW_PRIVATE_ENDPOINTS: /],
  ])('reports %j', (override, problem) => {
    const problems = problemsOf({ ...valid, ...override });
    expect(problems.some((p) => problem.test(p))).toBe(true);
  });

  it('lists every problem at once and never shows a secret', () => {
    const problems = problemsOf({ ADMIN_TOKEN: 'short-secret', SECRET_KEY: 'tiny-secret', CONFIG_PORT: '-1' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['ADMIN_TOKEN', 'CONFIG_PORT', 'SECRET_KEY']);
    expect(problems.join('\n')).not.toMatch(/short-secret|tiny-secret/);
  });
});
