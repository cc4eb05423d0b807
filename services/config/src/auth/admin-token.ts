import { createHash, timingSafeEqual } from 'node:crypto';

const BEARER = /^Bearer +(\S+)\s*$/i;

/**
 * Whether an Authorization header carries the admin token. Both sides are hashed first so the
 * comparison takes the same time whatever the length or content of what was sent.
 */
export function createAdminTokenCheck(adminToken: string): (authorization: string | undefined) => boolean {
  const expected = digest(adminToken);
  return (authorization) => {
    const match = typeof authorization === 'string' ? BEARER.exec(authorization) : null;
    const given = digest(match?.[1] ?? '');
    // Compare even when there was no token, so a missing header costs the same.
    return timingSafeEqual(given, expected) && match !== null;
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
