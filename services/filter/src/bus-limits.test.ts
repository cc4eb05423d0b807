import { describe, expect, it } from 'vitest';
import { classifyPublishFailure, maxJobBytes, profileLimitProblem } from './bus-limits.js';
import { PROCESSED_KEYS_MAX_BYTES } from './processed-keys.js';

describe('bus limits', () => {
  it.each<[number, number | undefined, boolean]>([
    [512 * 1024, 1024 * 1024, true],
    [1024 * 1024 - 4096 - PROCESSED_KEYS_MAX_BYTES, 1024 * 1024, true],
    [1024 * 1024 - 4095 - PROCESSED_KEYS_MAX_BYTES, 1024 * 1024, false],
    [512 * 1024, undefined, true],
    [512 * 1024, 256 * 1024, false],
  ])('a %d-byte profile bound fits max_payload %s: %s', (profile, maxPayload, fits) => {
    const problem = profileLimitProblem(profile, maxPayload);
    expect(problem === undefined).toBe(fits);
    if (problem) expect(problem).toMatch(/^FILTER_PROFILE_MAX_BYTES=\d+ does not fit the NATS server's max_payload/);
  });

  it('keeps room for headers in a job', () => {
    expect(maxJobBytes(1024 * 1024)).toBe(1024 * 1024 - 4096);
    expect(maxJobBytes(undefined)).toBe(1024 * 1024 - 4096);
  });

  it.each<[string, unknown, string]>([
    ['the client refusing a message over max_payload', new Error("'payload' max_payload size exceeded"), 'too large'],
    ['JetStream refusing a message over max_msg_size', Object.assign(new Error('message size exceeds maximum allowed'), { api_error: { err_code: 10054 } }), 'too large'],
    ['a publish timeout', new Error('timeout'), 'retry'],
    ['no responders (stream missing or NATS restarting)', new Error('no responders'), 'retry'],
    ['a full stream', Object.assign(new Error('maximum messages exceeded'), { api_error: { err_code: 10077 } }), 'retry'],
    ['a closed connection', new Error('connection closed'), 'retry'],
    ['something that is not an Error', 'boom', 'retry'],
  ])('%s → %s', (_name, err, expected) => {
    expect(classifyPublishFailure(err)).toBe(expected);
  });
});
