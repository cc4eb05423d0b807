import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../errors.js';
import { assertEndpointAllowed, createEndpointPolicy, dnsLookupAll, type LookupAll } from './endpoint-policy.js';

const dns: Record<string, string[]> = {
  'public.example': ['34.120.1.10'],
  'both.example': ['34.120.1.10', '192.168.1.20'],
  'metadata.example': ['169.254.169.254'],
  'v6local.example': ['fd00::5'],
  'mapped.example': ['::ffff:127.0.0.1'],
  'empty.example': [],
};
const lookups: string[] = [];
const lookupAll: LookupAll = async (host) => {
  lookups.push(host);
  const found = dns[host];
  if (!found) throw new Error(`ENOTFOUND ${host}`);
  return found;
};
const hangingLookup: LookupAll = () => new Promise(() => undefined);
const hint = '; set ALLOW_PRIVATE_ENDPOINTS=true to allow it';

describe('endpoint policy', () => {
  const strict = createEndpointPolicy({ allowPrivateEndpoints: false, lookupAll });
  const open = createEndpointPolicy({ allowPrivateEndpoints: true, lookupAll });

  it.each([
    ['https://public.example/x', undefined],
    ['https://8.8.8.8/x', undefined],
    ['https://both.example/x', `must not point to a private address (both.example → 192.168.1.20)${hint}`],
    ['https://metadata.example/x', `must not point to a private address (metadata.example → 169.254.169.254)${hint}`],
    ['https://v6local.example/x', `must not point to a private address (v6local.example → fd00::5)${hint}`],
    ['https://mapped.example/x', `must not point to a private address (mapped.example → ::ffff:127.0.0.1)${hint}`],
    ['https://127.0.0.1/x', `must not point to a private address (127.0.0.1)${hint}`],
    ['https://169.254.169.254/latest/meta-data', `must not point to a private address (169.254.169.254)${hint}`],
    ['https://[::1]:8443/x', `must not point to a private address (::1)${hint}`],
    ['https://nowhere.example/x', 'host nowhere.example does not resolve'],
    ['https://empty.example/x', 'host empty.example does not resolve'],
    ['http://public.example/x', `must be an https URL${hint}`],
    ['ftp://public.example/x', 'must be an https URL'],
    ['https://u:p@public.example/x', 'must not contain credentials'],
    ['public.example/x', 'must be an absolute URL'],
  ])('without private endpoints: %s', async (url, problem) => {
    expect(await strict.check(url)).toBe(problem);
  });

  it('asks its own resolver, never the system one, for names', async () => {
    lookups.length = 0;
    await strict.check('https://public.example/x');
    await strict.check('https://8.8.8.8/x');
    await strict.check('http://public.example/x');
    expect(lookups).toEqual(['public.example']);
  });

  it.each([
    'http://127.0.0.1:9999/x',
    'https://metadata.example/x',
    'https://nowhere.example/x',
    'http://localhost:8080/behavioral',
  ])('with private endpoints allowed, %s is accepted without a lookup', async (url) => {
    lookups.length = 0;
    expect(await open.check(url)).toBeUndefined();
    expect(lookups).toEqual([]);
  });

  it('still refuses other schemes and credentials when private endpoints are allowed', async () => {
    expect(await open.check('ftp://public.example/x')).toBe('must be an http or https URL');
    expect(await open.check('http://u:p@127.0.0.1/x')).toBe('must not contain credentials');
  });

  it('gives up on a lookup that does not answer', async () => {
    const policy = createEndpointPolicy({ allowPrivateEndpoints: false, lookupAll: hangingLookup, lookupTimeoutMs: 20 });
    expect(await policy.check('https://slow.example/x')).toBe('host slow.example does not resolve');
  });

  it('resolves with the system resolver by default (localhost is loopback)', async () => {
    expect((await dnsLookupAll('localhost')).length).toBeGreaterThan(0);
    const policy = createEndpointPolicy({ allowPrivateEndpoints: false });
    expect(await policy.check('https://localhost/x')).toMatch(/^must not point to a private address \(localhost → /);
  });

  it('names the field when refusing', async () => {
    await expect(assertEndpointAllowed(strict, 'https://127.0.0.1/')).rejects.toThrow(InvalidInputError);
    await expect(assertEndpointAllowed(strict, 'https://127.0.0.1/')).rejects.toThrow(/^body\/endpointUrl must not point/);
    await expect(assertEndpointAllowed(strict, 'https://public.example/')).resolves.toBeUndefined();
  });
});
