import { describe, expect, it } from 'vitest';
import { checkEndpointUrl, guardedLookup, isPrivateAddress, literalHostBlocked } from './endpoint-guard.js';

describe('isPrivateAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['10.1.2.3', true],
    ['172.16.0.1', true],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['::1', true],
    ['fe80::1', true],
    ['fd00::1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:8.8.8.8', false],
    ['8.8.8.8', false],
    ['34.120.1.10', false],
    ['2606:4700:4700::1111', false],
    ['not-an-ip', true],
    ['fec0::1', true],
    ['100::1', true],
    ['5f00::1', true],
    ['2001:db8::1', true],
    ['192.0.2.1', true],
    ['224.0.0.1', true],
  ])('%s → %s', (address, expected) => {
    expect(isPrivateAddress(address)).toBe(expected);
  });
});

describe('checkEndpointUrl', () => {
  it.each([
    ['https://8.8.8.8/behavioral/abc', false, undefined],
    ['http://8.8.8.8/x', false, 'must be an https URL'],
    ['ftp://8.8.8.8/x', true, 'must be an http or https URL'],
    ['not a url', false, 'must be an absolute URL'],
    ['https://user:pw@8.8.8.8/', false, 'must not contain credentials'],
    ['https://127.0.0.1/x', false, 'must not point to a private address (127.0.0.1)'],
    ['https://[::1]/x', false, 'must not point to a private address (::1)'],
    ['https://localhost/x', false, 'must not point to a private address'],
    ['http://127.0.0.1:9/x', true, undefined],
  ])('%s (private allowed: %s)', async (url, allowPrivate, problem) => {
    const result = await checkEndpointUrl(url, allowPrivate);
    if (problem === undefined) expect(result).toBeUndefined();
    else expect(result?.message).toContain(problem);
  });
});

describe('checkEndpointUrl with an injected resolver', () => {
  it('classifies every resolved address and times out', async () => {
    const lookupAll = async (host: string) =>
      host === 'mixed.example' ? [{ address: '8.8.8.8', family: 4 }, { address: '10.0.0.1', family: 4 }] : [{ address: '8.8.4.4', family: 4 }];
    expect(await checkEndpointUrl('https://public.example/x', false, { lookupAll })).toBeUndefined();
    expect((await checkEndpointUrl('https://mixed.example/x', false, { lookupAll }))?.message).toContain('10.0.0.1');
    const never = () => new Promise<never>(() => undefined);
    expect((await checkEndpointUrl('https://slow.example/x', false, { lookupAll: never, timeoutMs: 20 }))?.message).toContain('does not resolve');
  });
});

describe('connect-time guard', () => {
  it('refuses names that resolve to private addresses', async () => {
    const err = await new Promise<Error | null>((resolve) => guardedLookup('localhost', {}, (e) => resolve(e)));
    expect(err?.message).toMatch(/private address/);
  });
  it('blocks private IP literals', () => {
    expect(literalHostBlocked('127.0.0.1')).toBe(true);
    expect(literalHostBlocked('[::1]')).toBe(true);
    expect(literalHostBlocked('8.8.8.8')).toBe(false);
    expect(literalHostBlocked('example.com')).toBe(false);
  });
});
