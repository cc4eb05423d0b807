import { describe, expect, it } from 'vitest';
import { authorizationHeaderFrom } from './authorization.js';

describe('authorizationHeaderFrom', () => {
  it.each([
    ['Basic dGVzdDp0ZXN0', 'Basic dGVzdDp0ZXN0'],
    ['Bearer abc.def', 'Bearer abc.def'],
    [{ accessKeyId: 'test', accessSecret: 'test' }, 'Basic dGVzdDp0ZXN0'],
    [{ accessKeyId: 'key', accessSecret: 'sécret:with:colons' }, `Basic ${Buffer.from('key:sécret:with:colons').toString('base64')}`],
  ])('%j → %s', (input, header) => {
    expect(authorizationHeaderFrom(input)).toBe(header);
  });

  it.each([
    ['Basic abc\r\nX-Injected: 1', 'body/authorization must be a valid header value'],
    [' Basic abc', 'body/authorization must be a valid header value'],
    ['Basic ünicode', 'body/authorization must be a valid header value'],
    [{ accessKeyId: 'a:b', accessSecret: 's' }, 'body/authorization/accessKeyId must not contain ":"'],
    [{ accessKeyId: 'a\nb', accessSecret: 's' }, 'body/authorization/accessKeyId must not contain control characters'],
    [{ accessKeyId: 'a', accessSecret: 's\u0000' }, 'body/authorization/accessSecret must not contain control characters'],
  ])('refuses %j', (input, message) => {
    expect(() => authorizationHeaderFrom(input)).toThrow(message);
  });

  it('never puts the secret into its error message', () => {
    expect(() => authorizationHeaderFrom('Basic top-secret\n')).toThrow(expect.objectContaining({ message: expect.not.stringContaining('top-secret') }));
  });
});
