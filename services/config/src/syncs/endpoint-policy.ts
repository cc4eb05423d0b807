import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { InvalidInputError } from '../errors.js';
import { isPublicAddress } from './address-policy.js';
import { checkEndpointUrl } from './endpoint-url.js';

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

const PRIVATE_HINT = 'set ALLOW_PRIVATE_ENDPOINTS=true to allow it';

/**
 * Checked when a sync is saved (delivery checks again at connect time, so DNS rebinding
 * does not get around it): a host that is, or resolves to, a non-public address is refused.
 */
export function createEndpointPolicy(options: EndpointPolicyOptions): EndpointPolicy {
  const lookupAll = options.lookupAll ?? dnsLookupAll;
  const timeoutMs = options.lookupTimeoutMs ?? 5_000;
  return {
    async check(endpointUrl) {
      const checked = checkEndpointUrl(endpointUrl, options.allowPrivateEndpoints);
      if (!checked.ok) return checked.problem;
      if (options.allowPrivateEndpoints) return undefined;
      const { host } = checked;
      if (isIP(host) !== 0) {
        return isPublicAddress(host) ? undefined : `must not point at a private, loopback or link-local address (${PRIVATE_HINT})`;
      }
      let addresses: string[];
      try {
        addresses = await withTimeout(lookupAll(host), timeoutMs);
      } catch {
        return `host "${host}" could not be resolved`;
      }
      if (addresses.length === 0) return `host "${host}" could not be resolved`;
      const blocked = addresses.find((address) => !isPublicAddress(address));
      if (blocked !== undefined) {
        return `host "${host}" resolves to a private, loopback or link-local address (${blocked}); ${PRIVATE_HINT}`;
      }
      return undefined;
    },
  };
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
