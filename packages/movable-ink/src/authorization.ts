/** The Authorization header value from Movable Ink's Access Key ID and Access Secret. */
export function basicAuthorization(accessKeyId: string, accessSecret: string): string {
  return `Basic ${Buffer.from(`${accessKeyId}:${accessSecret}`, 'utf8').toString('base64')}`;
}

/** How an authorization header is shown to admins: the scheme and the last 6 characters. */
export function maskAuthorization(header: string): string {
  const space = header.indexOf(' ');
  const scheme = space > 0 ? header.slice(0, space) : '';
  const credential = space > 0 ? header.slice(space + 1) : header;
  const tail = credential.length > 12 ? credential.slice(-6) : '';
  return `${scheme ? `${scheme} ` : ''}****${tail}`;
}

/** A header value must be one line of visible ASCII (RFC 9110 field-value). */
export function isValidHeaderValue(value: string): boolean {
  return value.length > 0 && value.length <= 4096 && /^[\x20-\x7e]+$/.test(value) && value.trim() === value;
}
