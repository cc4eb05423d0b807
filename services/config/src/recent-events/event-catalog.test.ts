import { describe, expect, it } from 'vitest';
import type { AmplitudeEvent, IngestedRecord } from '@inkstream/contracts';
import { CATALOG_LIMIT, eventCatalog, userPropertyNames } from './event-catalog.js';

const record = (event: Partial<AmplitudeEvent> & { event_type: string }): IngestedRecord => ({
  v: 1,
  kind: event.event_type === '$identify' ? 'identify' : 'event',
  projectId: 'p',
  receivedAt: 0,
  eventKey: 'k',
  userKey: 'user-1',
  event: { user_id: 'user-1', ...event } as AmplitudeEvent,
});

describe('userPropertyNames', () => {
  it.each([
    [undefined, []],
    [null, []],
    [['a'], []],
    [{ email: 'a@b.c', plan: 'pro' }, ['email', 'plan']],
    [{ $set: { email: 'a@b.c' }, $setOnce: { first_seen: 1 }, $add: { logins: 1 } }, ['email', 'first_seen', 'logins']],
    [{ $set: { plan: 'pro' }, $unset: { plan: '-' } }, ['plan']],
    [{ $clearAll: '-' }, []],
    [{ $set: 'not an object' }, []],
  ])('%j → %j', (input, names) => {
    expect(userPropertyNames(input)).toEqual(names);
  });
});

describe('eventCatalog', () => {
  it('ranks names by how many events had them, ties by name', () => {
    const catalog = eventCatalog([
      record({ event_type: 'Product Viewed', event_properties: { price: 1, product_id: 'a' }, platform: 'iOS' }),
      record({ event_type: 'Product Viewed', event_properties: { price: 2 }, user_properties: { plan: 'pro' } }),
      record({ event_type: 'Order Completed', event_properties: { total: 3 }, user_properties: { $set: { email: 'x' } } }),
      record({ event_type: '$identify', user_properties: { $set: { email: 'y', plan: 'free' } } }),
    ]);
    expect(catalog.eventTypes).toEqual([
      { name: 'Product Viewed', count: 2 },
      { name: '$identify', count: 1 },
      { name: 'Order Completed', count: 1 },
    ]);
    expect(catalog.eventProperties).toEqual([
      { name: 'price', count: 2 },
      { name: 'product_id', count: 1 },
      { name: 'total', count: 1 },
    ]);
    expect(catalog.userProperties).toEqual([
      { name: 'email', count: 2 },
      { name: 'plan', count: 2 },
    ]);
    expect(catalog.fields).toEqual([
      { name: 'user_id', count: 4 },
      { name: 'platform', count: 1 },
    ]);
    expect(catalog.sampled).toBe(4);
  });

  it('is empty for no events', () => {
    expect(eventCatalog([])).toEqual({ eventTypes: [], eventProperties: [], userProperties: [], fields: [], sampled: 0 });
  });

  it('keeps at most CATALOG_LIMIT names per list', () => {
    const props = Object.fromEntries(Array.from({ length: CATALOG_LIMIT + 50 }, (_, i) => [`p${i}`, i]));
    expect(eventCatalog([record({ event_type: 'E', event_properties: props })]).eventProperties).toHaveLength(CATALOG_LIMIT);
  });
});
