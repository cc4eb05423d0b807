import { basicAuthorization, isValidHeaderValue } from '@inkstream/movable-ink';
import { InvalidInputError } from '../errors.js';
import type { AuthorizationInput } from './input.js';

const CONTROL_CHARACTERS = /[\x00-\x1f\x7f]/;

/** The Authorization header a sync sends, from what the admin wrote. */
export function authorizationHeaderFrom(input: AuthorizationInput, field = 'body/authorization'): string {
  if (typeof input === 'string') {
    if (!isValidHeaderValue(input)) {
      throw new InvalidInputError(
        field,
        'must be a valid header value (one line of printable ASCII, no leading or trailing spaces)',
      );
    }
    return input;
  }
  // RFC 7617: the user-id of Basic credentials cannot contain a colon.
  if (input.accessKeyId.includes(':')) throw new InvalidInputError(`${field}/accessKeyId`, 'must not contain ":"');
  if (CONTROL_CHARACTERS.test(input.accessKeyId)) {
    throw new InvalidInputError(`${field}/accessKeyId`, 'must not contain control characters');
  }
  if (CONTROL_CHARACTERS.test(input.accessSecret)) {
    throw new InvalidInputError(`${field}/accessSecret`, 'must not contain control characters');
  }
  return basicAuthorization(input.accessKeyId, input.accessSecret);
}
