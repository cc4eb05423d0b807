export type EndpointUrlCheck =
  | { ok: true; url: URL; /** Host without IPv6 brackets. */ host: string }
  | { ok: false; problem: string };

export const MAX_ENDPOINT_URL_LENGTH = 2048;

/**
 * The rules an endpoint URL must follow before any address is looked at: absolute, https
 * (http only where private endpoints are allowed), no credentials in the URL.
 */
export function checkEndpointUrl(raw: string, allowPrivateEndpoints: boolean): EndpointUrlCheck {
  if (raw.length > MAX_ENDPOINT_URL_LENGTH) {
    return { ok: false, problem: `must not be longer than ${MAX_ENDPOINT_URL_LENGTH} characters` };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, problem: 'must be an absolute URL' };
  }
  if (url.protocol === 'http:' && !allowPrivateEndpoints) {
    return { ok: false, problem: 'must use https (http is only allowed when ALLOW_PRIVATE_ENDPOINTS=true)' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { ok: false, problem: 'must use https' };
  }
  if (url.username !== '' || url.password !== '') {
    return { ok: false, problem: 'must not contain credentials (use authorization)' };
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') return { ok: false, problem: 'must name a host' };
  return { ok: true, url, host };
}
