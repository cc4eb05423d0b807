import { describe, expect, it } from 'vitest';
import { EnvironmentError, parseEnvironment } from '@inkstream/service-kit';
import { FilterEnvironment } from './environment.js';

describe('filter environment', () => {
  it('has the documented defaults', () => {
    expect(parseEnvironment(FilterEnvironment, {})).toMatchObject({
      FILTER_MAX_IN_FLIGHT: 64,
      FILTER_PROFILE_CACHE_SIZE: 100_000,
      FILTER_PROFILE_CACHE_BYTES: 32 * 1024 * 1024,
      FILTER_PROFILE_MAX_BYTES: 512 * 1024,
      FILTER_PROFILE_PENDING_BYTES: 16 * 1024 * 1024,
    });
  });
  it('names every bad knob', () => {
    try {
      parseEnvironment(FilterEnvironment, { FILTER_MAX_IN_FLIGHT: '0', FILTER_PROFILE_CACHE_BYTES: '-1', FILTER_PROFILE_MAX_BYTES: '100', FILTER_PROFILE_PENDING_BYTES: '1000' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(EnvironmentError);
      const problems = (err as EnvironmentError).problems.join('\n');
      for (const name of ['FILTER_MAX_IN_FLIGHT', 'FILTER_PROFILE_CACHE_BYTES', 'FILTER_PROFILE_MAX_BYTES', 'FILTER_PROFILE_PENDING_BYTES']) expect(problems).toContain(name);
    }
  });
});
