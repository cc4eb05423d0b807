import { describe, expect, it } from 'vitest';
import { createAdminTokenCheck } from './admin-token.js';

const token = 'the-admin-token-0123456789';
const isAdmin = createAdminTokenCheck(token);

describe('admin token check', () => {
  it.each([
    [`Bearer ${token}`, true],
    [`bearer ${token}`, true],
    [`Bearer  ${token}`, true],
    [`Bearer ${token} `, true],
    [undefined, false],
    ['', false],
    ['Bearer', false],
    ['Bearer ', false],
    [token, false],
    [`Basic ${token}`, false],
    [`Bearer ${token}x`, false],
    [`Bearer ${token.slice(0, -1)}`, false],
    [`Bearer ${token} extra`, false],
  ])('%j → %s', (header, expected) => {
    expect(isAdmin(header)).toBe(expected);
  });
});
