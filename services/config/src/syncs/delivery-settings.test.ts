import { describe, expect, it } from 'vitest';
import { DEFAULT_DELIVERY_SETTINGS } from '@inkstream/contracts';
import { mergeDeliverySettings } from './delivery-settings.js';

describe('mergeDeliverySettings', () => {
  it.each([
    ['nothing given', undefined, DEFAULT_DELIVERY_SETTINGS],
    ['an empty change', {}, DEFAULT_DELIVERY_SETTINGS],
    ['one setting', { batchSize: 50 }, { ...DEFAULT_DELIVERY_SETTINGS, batchSize: 50 }],
    [
      'several settings',
      { maxRequestBytes: 2_000_000, preserveUserOrder: false },
      { ...DEFAULT_DELIVERY_SETTINGS, maxRequestBytes: 2_000_000, preserveUserOrder: false },
    ],
    ['an explicit undefined', { batchSize: undefined }, DEFAULT_DELIVERY_SETTINGS],
  ])('%s', (_name, change, expected) => {
    expect(mergeDeliverySettings(DEFAULT_DELIVERY_SETTINGS, change)).toEqual(expected);
  });

  it('does not modify the current settings', () => {
    const current = { ...DEFAULT_DELIVERY_SETTINGS };
    mergeDeliverySettings(current, { batchSize: 9 });
    expect(current).toEqual(DEFAULT_DELIVERY_SETTINGS);
  });
});
