import { describe, expect, it } from 'vitest';
import { checkEndpointUrl } from './endpoint-url.js';

describe('checkEndpointUrl', () => {
  it.each([
    ['https://collector.movableink-dmz.com/behavioral/abc', false, undefined, 'collector.movableink-dmz.com'],
    ['https://8.8.8.8:8443/x?y=1', false, undefined, '8.8.8.8'],
    ['https://[2606:4700::1111]/x', false, undefined, '2606:4700::1111'],
    ['http://collector.example/x', true, undefined, 'collector.example'],
    ['http://collector.example/x', false, 'must use https (http is only allowed when ALLOW_PRIVATE_ENDPOINTS=true)', undefined],
    ['ftp://collector.example/x', false, 'must use https', undefined],
    ['ftp://collector.example/x', true, 'must use https', undefined],
    ['file:///etc/passwd', true, 'must use https', undefined],
    ['collector.example/x', false, 'must be an absolute URL', undefined],
    ['https://user:secret@collector.example/x', false, 'must not contain credentials (use authorization)', undefined],
    ['https://user@collector.example/x', true, 'must not contain credentials (use authorization)', undefined],
    [`https://collector.example/${'x'.repeat(2100)}`, false, 'must not be longer than 2048 characters', undefined],
  ])('%s (private allowed: %s)', (raw, allowPrivate, problem, host) => {
    const result = checkEndpointUrl(raw, allowPrivate);
    if (problem === undefined) {
      expect(result).toMatchObject({ ok: true, host });
    } else {
      expect(result).toEqual({ ok: false, problem });
    }
  });
});
