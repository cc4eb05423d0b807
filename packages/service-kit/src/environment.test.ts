import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { BaseEnvironment, BooleanFlag, EnvironmentError, Port, parseEnvironment } from './environment.js';

const Schema = Type.Object({
  ...BaseEnvironment,
  PORT: Port(8080),
  FLAG: BooleanFlag(false),
  ADMIN_TOKEN: Type.String({ minLength: 16 }),
});

describe('parseEnvironment', () => {
  it('applies defaults and converts types', () => {
    const env = parseEnvironment(Schema, { ADMIN_TOKEN: 'x'.repeat(16), PORT: '9000', FLAG: 'true' });
    expect(env).toMatchObject({ NATS_URL: 'nats://127.0.0.1:4222', LOG_LEVEL: 'info', PORT: 9000, FLAG: true, NATS_NAMESPACE: 'inkstream' });
  });

  it('lists every problem at once and hides secrets', () => {
    try {
      parseEnvironment(Schema, { PORT: 'eighty', LOG_LEVEL: 'loud', ADMIN_TOKEN: 'short', NATS_NAMESPACE: 'a.b' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(EnvironmentError);
      const message = (err as Error).message;
      expect(message).toMatch(/PORT: .*"eighty"/);
      expect(message).toMatch(/LOG_LEVEL/);
      expect(message).toMatch(/ADMIN_TOKEN: .*given \(hidden\)/);
      expect(message).not.toContain('short');
      expect(message).toMatch(/NATS_NAMESPACE/);
    }
  });

  it('names missing required variables', () => {
    expect(() => parseEnvironment(Schema, {})).toThrow(/ADMIN_TOKEN: .*not set/);
  });

  it('treats empty strings as unset', () => {
    expect(parseEnvironment(Schema, { ADMIN_TOKEN: 'x'.repeat(16), PORT: '' }).PORT).toBe(8080);
  });
});

describe('extra checks', () => {
  it('adds their problems to the list, hiding secret values', () => {
    const checks = { ADMIN_TOKEN: (v: string) => (v.startsWith('tok_') ? undefined : 'must start with tok_') };
    try {
      parseEnvironment(Schema, { ADMIN_TOKEN: 'x'.repeat(16), PORT: 'nope' }, checks);
      expect.unreachable();
    } catch (err) {
      const message = (err as Error).message;
      expect(message).toMatch(/PORT/);
      expect(message).toMatch(/ADMIN_TOKEN: must start with tok_ \(given \(hidden\)\)/);
    }
    expect(parseEnvironment(Schema, { ADMIN_TOKEN: `tok_${'x'.repeat(16)}` }, checks).ADMIN_TOKEN).toMatch(/^tok_/);
  });
});

describe('NATS_REPLICAS', () => {
  it('takes NATS_REPLICAS from 1 to 5 (JetStream keeps at most five copies)', () => {
    const token = { ADMIN_TOKEN: 'x'.repeat(16) };
    expect(parseEnvironment(Schema, token).NATS_REPLICAS).toBe(1);
    expect(parseEnvironment(Schema, { ...token, NATS_REPLICAS: '3' }).NATS_REPLICAS).toBe(3);
    for (const wrong of ['0', '7', 'three']) {
      expect(() => parseEnvironment(Schema, { ...token, NATS_REPLICAS: wrong })).toThrow(new RegExp(`NATS_REPLICAS: .*"${wrong}"`));
    }
  });
});

describe('STARTUP_TIMEOUT_SECONDS', () => {
  it('defaults to 60 and takes whole seconds from 1 to 3600; anything else is a start-up error naming it', () => {
    const token = { ADMIN_TOKEN: 'x'.repeat(16) };
    expect(parseEnvironment(Schema, token).STARTUP_TIMEOUT_SECONDS).toBe(60);
    expect(parseEnvironment(Schema, { ...token, STARTUP_TIMEOUT_SECONDS: '5' }).STARTUP_TIMEOUT_SECONDS).toBe(5);
    for (const wrong of ['0', '-1', '1.5', 'soon', '3601']) {
      expect(() => parseEnvironment(Schema, { ...token, STARTUP_TIMEOUT_SECONDS: wrong })).toThrow(new RegExp(`STARTUP_TIMEOUT_SECONDS: .*"${wrong}"`));
    }
  });
});
