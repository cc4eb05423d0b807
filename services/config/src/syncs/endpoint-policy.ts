import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { checkEndpointUrl, isPrivateAddress } from '@inkstream/endpoint-guard';
import { InvalidInputError } from '../errors.js';

/** Every address a host name resolves to. */
export type LookupAll = (host: string) => Promise<string[]>;

export const dnsLookupAll: LookupAll = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

export interface EndpointPolicy {
  /** A problem with the endpoint URL (worded to follow the field name), or undefined if it may be used. */
  check(endpointUrl: string): Promise<string | undefined>;
}

export interface EndpointPolicyOptions {
  allowPrivateEndpoints: boolean;
  lookupAll?: LookupAll;
  lookupTimeoutMs?: number;
}

/**
 * Checked when a sync is saved (delivery checks again at connect time, so DNS rebinding does
 * not get around it). The rules and the address ranges are `@inkstream/endpoint-guard`'s, the
 * one address policy of the project; only the name lookup is ours, because the guard resolves
 * with the system resolver and no time limit, and a save must neither hang on a slow DNS
 * server nor depend on the real DNS in tests.
 */
export function createEndpointPolicy(options: EndpointPolicyOptions): EndpointPolicy {
  const lookupAll = options.lookupAll ?? dnsLookupAll;
  const timeoutMs = options.lookupTimeoutMs ?? 5_000;
  return {
    async check(endpointUrl) {
      // With private endpoints allowed the guard never resolves: scheme and credentials only.
      const lenient = await checkEndpointUrl(endpointUrl, true);
      if (options.allowPrivateEndpoints) return lenient?.message;
      // A malformed URL, a scheme other than http(s) or credentials fail before any lookup.
      if (lenient) return ((await checkEndpointUrl(endpointUrl, false)) ?? lenient).message;

      const url = new URL(endpointUrl);
      const host = url.hostname.replace(/^\[|\]$/g, '');
      // http, or an IP literal: the guard decides without a lookup.
      if (url.protocol !== 'https:' || isIP(host) !== 0) {
        const strict = await checkEndpointUrl(endpointUrl, false);
        return strict ? withPrivateHint(strict.message) : undefined;
      }

      let addresses: string[];
      try {
        addresses = await withTimeout(lookupAll(host), timeoutMs);
      } catch {
        addresses = [];
      }
      // Worded like the guard's own answers for the same cases.
      if (addresses.length === 0) return `host ${host} does not resolve`;
      const blocked = addresses.find((address) => isPrivateAddress(address));
      if (blocked !== undefined) return withPrivateHint(`must not point to a private address (${host} → ${blocked})`);
      return undefined;
    },
  };
}

/** Said only of URLs that would be accepted with private endpoints allowed. */
function withPrivateHint(problem: string): string {
  return `${problem}; set ALLOW_PRIVATE_ENDPOINTS=true to allow it`;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Refuses an endpoint URL the policy does not allow, naming the field. */
export async function assertEndpointAllowed(
  policy: EndpointPolicy,
  endpointUrl: string,
  field = 'body/endpointUrl',
): Promise<void> {
  const problem = await policy.check(endpointUrl);
  if (problem !== undefined) throw new InvalidInputError(field, problem);
}
