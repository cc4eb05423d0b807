import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Only ordinary public unicast addresses are allowed. An allow-list rather than a list of
 * special ranges, so a range nobody thought of (site-local, discard, segment routing, …) is
 * refused too.
 */
const ALLOWED_RANGE = 'unicast';

export function isPrivateAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return true;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return parsed.range() !== ALLOWED_RANGE;
}

export class PrivateEndpointError extends Error {
  readonly code = 'EPRIVATEENDPOINT';
  constructor(host: string, address: string) {
    super(`endpoint ${host} resolves to ${address}, a private address (set ALLOW_PRIVATE_ENDPOINTS=true to allow)`);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for sockets that refuses private addresses at connect time, so a DNS answer that
 * changes after the endpoint was saved (DNS rebinding) cannot reach internal services.
 */
export function guardedLookup(
  hostname: string,
  options: LookupOneOptions | LookupAllOptions | number,
  callback: LookupCallback,
): void {
  const opts = typeof options === 'number' ? { family: options } : options;
  dnsLookup(hostname, { ...opts, all: true }, (err, addresses) => {
    if (err) return callback(err, '');
    const list = addresses as LookupAddress[];
    const blocked = list.find((a) => isPrivateAddress(a.address));
    if (blocked) return callback(new PrivateEndpointError(hostname, blocked.address), '');
    if ((opts as LookupAllOptions).all) return callback(null, list);
    const first = list[0];
    if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
    callback(null, first.address, first.family);
  });
}

/** IP-literal hosts never go through lookup, so they are checked before connecting. */
export function literalHostBlocked(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  return isIP(host) !== 0 && isPrivateAddress(host);
}

export type EndpointProblem = { field: 'endpointUrl'; message: string };

/**
 * Save-time check of a sync's endpoint URL: https only (http too when private endpoints are
 * allowed), no credentials in the URL, and — unless allowed — a host that is neither a
 * private IP literal nor a name resolving to one.
 */
export interface CheckEndpointOptions {
  /** Resolves a host name to all its addresses (default: the system resolver, `dns.lookup`). */
  lookupAll?: (host: string) => Promise<LookupAddress[]>;
  /** Gives up resolving after this long (default 5 s): the check answers "does not resolve". */
  timeoutMs?: number;
}

const systemLookupAll = (host: string) =>
  new Promise<LookupAddress[]>((resolve, reject) =>
    dnsLookup(host, { all: true }, (err, list) => (err ? reject(err) : resolve(list))),
  );

export async function checkEndpointUrl(
  value: string,
  allowPrivate: boolean,
  options: CheckEndpointOptions = {},
): Promise<EndpointProblem | undefined> {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { field: 'endpointUrl', message: 'must be an absolute URL' };
  }
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:')) {
    return { field: 'endpointUrl', message: allowPrivate ? 'must be an http or https URL' : 'must be an https URL' };
  }
  if (url.username || url.password) return { field: 'endpointUrl', message: 'must not contain credentials' };
  if (allowPrivate) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) {
    return isPrivateAddress(host) ? { field: 'endpointUrl', message: `must not point to a private address (${host})` } : undefined;
  }
  const lookupAll = options.lookupAll ?? systemLookupAll;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), options.timeoutMs ?? 5_000);
  });
  const addresses = await Promise.race([lookupAll(host).catch(() => undefined), timeout]);
  clearTimeout(timer);
  if (!addresses || addresses.length === 0) return { field: 'endpointUrl', message: `host ${host} does not resolve` };
  const blocked = addresses.find((a) => isPrivateAddress(a.address));
  if (blocked) return { field: 'endpointUrl', message: `must not point to a private address (${host} → ${blocked.address})` };
  return undefined;
}
