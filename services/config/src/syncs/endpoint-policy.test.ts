import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../errors.js';
import { assertEndpointAllowed, createEndpointPolicy, dnsLookupAll, type LookupAll } from './endpoint-policy.js';

const dns: Record<string, string[]> = {
  'public.example': ['34.120.1.10'],
  'both.example': ['34.120.1.10', '192.168.1.20'],
  'metadata.example': ['169.254.169.254'],
  'v6local.example': ['fd00::5'],
  'empty.example': [],
};
const lookupAll: LookupAll = async (host) => {
  const found = dns[host];
  if (!found) throw new Error(`ENOTFOUND ${host}`);
  return found;
};
const hangingLookup: LookupAll = () => new Promise(() => undefined);

describe('endpoint policy', () => {
  const strict = createEndpointPolicy({ allowPrivateEndpoints: false, lookupAll });
  const open = createEndpointPolicy({ allowPrivateEndpoints: true, lookupAll });

  it.each([
    ['https://public.example/x', undefined],
    ['https://8.8.8.8/x', undefined],
    ['https://both.example/x', 'host "both.example" resolves to a private, loopback or link-local address (192.168.1.20)'],
    ['https://metadata.example/x', 'resolves to a private, loopback or link-local address (169.254.169.254)'],
    ['https://v6local.example/x', 'resolves to a private, loopback or link-local address (fd00::5)'],
    ['https://127.0.0.1/x', 'must not point at a private, loopback or link-local address'],
    ['https://169.254.169.254/latest/meta-data', 'must not point at a private, loopback or link-local address'],
    ['https://[::1]:8443/x', 'must not point at a private, loopback or link-local address'],
    ['https://nowhere.example/x', 'host "nowhere.example" could not be resolved'],
    ['https://empty.example/x', 'host "empty.example" could not be resolved'],
    ['http://public.example/x', 'must use https'],
  ])('without private endpoints: %s', async (url, problem) => {
    const result = await strict.check(url);
    if (problem === undefined) expect(result).toBeUndefined();
    else expect(result).toContain(problem);
  });

  it.each([
    'http://127.0.0.1:9999/x',
    'https://metadata.example/x',
    'https://nowhere.example/x',
    'http://localhost:8080/behavioral',
  ])('with private endpoints allowed, %s is accepted without a lookup', async (url) => {
    expect(await open.check(url)).toBeUndefined();
  });

  it('still refuses other schemes when private endpoints are allowed', async () => {
    expect(await open.check('ftp://public.example/x')).toBe('must use https');
  });

  it('gives up on a lookup that does not answer', async () => {
    const policy = createEndpointPolicy({ allowPrivateEndpoints: false, lookupAll: hangingLookup, lookupTimeoutMs: 20 });
    expect(await policy.check('https://slow.example/x')).toBe('host "slow.example" could not be resolved');
  });

  it('resolves with the system resolver by default (localhost is loopback)', async () => {
    expect((await dnsLookupAll('localhost')).length).toBeGreaterThan(0);
    const policy = createEndpointPolicy({ allowPrivateEndpoints: false });
    expect(await policy.check('https://localhost/x')).toContain('resolves to a private, loopback or link-local address');
  });

  it('names the field when refusing', async () => {
    await expect(assertEndpointAllowed(strict, 'https://127.0.0.1/')).rejects.toThrow(InvalidInputError);
    await expect(assertEndpointAllowed(strict, 'https://127.0.0.1/')).rejects.toThrow(/^body\/endpointUrl must not point/);
    await expect(assertEndpointAllowed(strict, 'https://public.example/')).resolves.toBeUndefined();
  });
});
