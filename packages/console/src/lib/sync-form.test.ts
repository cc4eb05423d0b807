import { describe, expect, it } from 'vitest';
import type { Sync } from '../api/types.js';
import { bodyOf, formOf, newSyncForm, valuesOf } from './sync-form.js';

describe('valuesOf', () => {
  it.each([
    ['10, 20', 'greater', [10, 20]],
    ['10, ten', 'less', [10, 'ten']],
    ['iOS,  Android ,', 'is', ['iOS', 'Android']],
    ['10', 'is', ['10']],
    ['anything', 'exists', []],
    ['', 'is', []],
    ['*@example.com', 'glob match', ['*@example.com']],
  ] as const)('%j with %s → %j', (text, operator, values) => {
    expect(valuesOf(text, operator)).toEqual(values);
  });
});

const sync: Sync = {
  id: 's',
  projectId: 'p',
  name: 'Movable Ink – prod',
  destination: 'movable-ink',
  enabled: true,
  endpointUrl: 'https://collector.movableink-dmz.com/behavioral/abc123',
  authorization: 'Basic ****Q6dA==',
  sendEvents: true,
  eventFilters: [
    { eventType: 'Product Viewed', where: [{ propertyType: 'event', property: 'price', operator: 'greater', values: [10] }] },
    { eventType: 'Order Completed' },
  ],
  eventProperties: ['product_id', 'price'],
  sendUsers: true,
  userProperties: ['email'],
  delivery: { batchSize: 1, maxRequestBytes: 1_000_000, maxConcurrency: 16, requestTimeoutMs: 10_000, retryWindowSeconds: 14_400, preserveUserOrder: true },
  status: { state: 'healthy', lastError: null },
  version: 3,
  createdAt: '',
  updatedAt: '',
};

describe('bodyOf', () => {
  it('gives back what a sync holds, without touching the stored authorization', () => {
    expect(bodyOf(formOf(sync))).toEqual({
      name: sync.name,
      enabled: true,
      endpointUrl: sync.endpointUrl,
      sendEvents: true,
      eventFilters: sync.eventFilters,
      eventProperties: ['product_id', 'price'],
      sendUsers: true,
      userProperties: ['email'],
      delivery: sync.delivery,
    });
  });

  it('sends the authorization as keys or as a header value when one is entered', () => {
    const form = { ...newSyncForm(), name: ' A ', endpointUrl: ' https://x.example/b ', accessKeyId: 'id', accessSecret: 's3cret ' };
    expect(bodyOf(form)).toMatchObject({ name: 'A', endpointUrl: 'https://x.example/b', authorization: { accessKeyId: 'id', accessSecret: 's3cret ' } });
    expect(bodyOf({ ...form, authMode: 'header', authHeader: ' Basic dGVzdDp0ZXN0 ' }).authorization).toBe('Basic dGVzdDp0ZXN0');
  });

  it('leaves blank settings out and passes what is not a number on for the API to name', () => {
    const form = newSyncForm();
    form.delivery = { ...form.delivery, batchSize: '', maxConcurrency: 'lots', retryWindowSeconds: ' 600 ' };
    const delivery = bodyOf(form).delivery as Record<string, unknown>;
    expect(delivery).not.toHaveProperty('batchSize');
    expect(delivery.maxConcurrency).toBe('lots');
    expect(delivery.retryWindowSeconds).toBe(600);
  });

  it('keeps an empty row so the API can point at it', () => {
    expect(bodyOf(newSyncForm()).eventFilters).toEqual([{ eventType: '' }]);
  });
});
