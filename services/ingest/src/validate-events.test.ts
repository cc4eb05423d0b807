import { describe, expect, it } from 'vitest';
import { acceptEvents, acceptEventsBody } from './accept-events.js';
import { acceptIdentifyForm } from './accept-identify.js';
import { depthExceeds, minIdLengthOf, userPropertiesValid } from './validate-events.js';
import { scanEventsBody } from './json-budget.js';
import type { ProjectSnapshot } from '@inkstream/contracts';

const project: ProjectSnapshot = {
  kind: 'project',
  id: 'p1',
  name: 'p',
  apiKeyHash: 'x',
  version: 1,
  deleted: false,
  updatedAt: '',
};
const lookup = () => project;
const ok = { user_id: 'user-12345', event_type: 'x' };

function lists(events: unknown[], minIdLength = 5) {
  const r = acceptEvents(events, 'event', 'p1', minIdLength, 1);
  if (r.ok) return 'ok';
  return r.error.body;
}

describe('per-event validation', () => {
  it.each([
    ['valid user_id', [ok], 'ok'],
    ['valid device_id only', [{ device_id: 'device-1', event_type: 'x' }], 'ok'],
    ['missing event_type', [{ user_id: 'user-12345' }], { events_with_missing_fields: { event_type: [0] } }],
    ['blank event_type', [{ user_id: 'user-12345', event_type: '  ' }], { events_with_missing_fields: { event_type: [0] } }],
    ['numeric event_type', [{ user_id: 'user-12345', event_type: 5 }], { events_with_invalid_fields: { event_type: [0] } }],
    ['long event_type', [{ user_id: 'user-12345', event_type: 'e'.repeat(1025) }], { events_with_invalid_fields: { event_type: [0] } }],
    ['no ids', [{ event_type: 'x' }], { events_with_missing_fields: { user_id: [0] } }],
    ['null ids', [{ event_type: 'x', user_id: null, device_id: null }], { events_with_missing_fields: { user_id: [0] } }],
    ['short user_id', [{ user_id: 'abcd', event_type: 'x' }], { events_with_invalid_id_lengths: { user_id: [0] } }],
    ['short device_id', [{ device_id: 'abc', event_type: 'x' }], { events_with_invalid_id_lengths: { device_id: [0] } }],
    ['numeric user_id', [{ user_id: 123456, event_type: 'x' }], { events_with_invalid_fields: { user_id: [0] } }],
    ['rejected literal', [{ user_id: 'Undefined', event_type: 'x' }], { events_with_invalid_fields: { user_id: [0] } }],
    ['zero uuid', [{ device_id: '00000000-0000-0000-0000-000000000000', event_type: 'x' }], { events_with_invalid_fields: { device_id: [0] } }],
    ['ISO time', [{ ...ok, time: '2024-01-01T00:00:00Z' }], { events_with_invalid_fields: { time: [0] } }],
    ['fractional time', [{ ...ok, time: 1.5 }], { events_with_invalid_fields: { time: [0] } }],
    ['negative time', [{ ...ok, time: -1 }], { events_with_invalid_fields: { time: [0] } }],
    ['ms time', [{ ...ok, time: 1709566376409 }], 'ok'],
    ['array event_properties', [{ ...ok, event_properties: [1] }], { events_with_invalid_fields: { event_properties: [0] } }],
    ['string user_properties', [{ ...ok, user_properties: 'x' }], { events_with_invalid_fields: { user_properties: [0] } }],
    ['mixed operations', [{ ...ok, user_properties: { $set: { a: 1 }, b: 2 } }], { events_with_invalid_fields: { user_properties: [0] } }],
    ['operation with a scalar', [{ ...ok, user_properties: { $set: 5 } }], { events_with_invalid_fields: { user_properties: [0] } }],
    ['operations only', [{ ...ok, user_properties: { $set: { a: 1 }, $clearAll: '-' } }], 'ok'],
    ['non-object event', ['x'], { events_with_invalid_fields: { event: [0] } }],
  ])('%s', (_name, events, expected) => {
    const result = lists(events);
    if (expected === 'ok') expect(result).toBe('ok');
    else expect(result).toMatchObject({ code: 400, error: 'Invalid field values on some events', ...(expected as object) });
  });

  it.each([
    'anonymous', 'nil', 'none', 'null', 'n/a', 'na', 'undefined', 'unknown', '',
    '00000000-0000-0000-0000-000000000000', '{}', 'lmy47d', '0', '-1',
  ])('rejects the literal id %j in any case, also with min_id_length 1', (literal) => {
    for (const id of [literal, literal.toUpperCase(), literal.replace(/^./, (c) => c.toUpperCase())]) {
      expect(lists([{ user_id: id, event_type: 'x' }], 1)).toMatchObject({ events_with_invalid_fields: { user_id: [0] } });
      expect(lists([{ user_id: 'user-12345', device_id: id, event_type: 'x' }], 1)).toMatchObject({ events_with_invalid_fields: { device_id: [0] } });
    }
  });

  it.each([
    ['integer ms', 1709566376409, true],
    ['zero', 0, true],
    ['null (absent)', null, true],
    ['integer-valued float literal', JSON.parse('1709566376409.0'), true],
    ['ms as a string', '1709566376409', false],
    ['ISO string', '2024-01-01T00:00:00Z', false],
    ['fraction', 1709566376409.5, false],
    ['beyond safe integers', 2 ** 53, false],
    ['negative', -1, false],
    ['boolean', true, false],
    ['object', { ms: 1 }, false],
  ])('time as %s', (_name, time, valid) => {
    const result = lists([{ ...ok, time }]);
    if (valid) expect(result).toBe('ok');
    else expect(result).toMatchObject({ events_with_invalid_fields: { time: [0] } });
  });

  it.each([
    ['exactly 1024', 'e'.repeat(1024), 'ok'],
    ['1025', 'e'.repeat(1025), 'invalid'],
    ['1024 astral characters (2048 UTF-16 units)', '😀'.repeat(1024), 'invalid'],
  ])('event_type of %s characters', (_name, eventType, expected) => {
    const result = lists([{ ...ok, event_type: eventType }]);
    if (expected === 'ok') expect(result).toBe('ok');
    else expect(result).toMatchObject({ events_with_invalid_fields: { event_type: [0] } });
  });

  it('bounds ids at 1024 characters', () => {
    expect(lists([{ ...ok, user_id: 'u'.repeat(1024) }])).toBe('ok');
    expect(lists([{ ...ok, user_id: 'u'.repeat(1025) }])).toMatchObject({ events_with_invalid_fields: { user_id: [0] } });
  });

  it.each([
    ['group_properties mixing', { group_properties: { $set: { a: 1 }, plain: 1 } }, 'group_properties'],
    ['an unknown $key beside operations', { user_properties: { $set: { a: 1 }, $setAll: { b: 1 } } }, 'user_properties'],
    ['$unset with a list', { user_properties: { $unset: ['a'] } }, 'user_properties'],
  ])('refuses %s', (_name, fields, field) => {
    expect(lists([{ ...ok, ...fields }])).toMatchObject({ events_with_invalid_fields: { [field]: [0] } });
  });

  it('accepts every operation alone, and $-keys in event_properties (revenue)', () => {
    const everyOperation = { $set: { a: 1 }, $setOnce: { b: 1 }, $add: { c: 1 }, $append: { d: 1 }, $prepend: { e: 1 }, $unset: { f: '-' }, $preInsert: { g: 1 }, $postInsert: { h: 1 }, $remove: { i: 1 }, $clearAll: '-' };
    expect(lists([{ ...ok, user_properties: everyOperation, group_properties: { $set: { size: 1 } } }])).toBe('ok');
    expect(lists([{ ...ok, event_type: 'revenue_amount', event_properties: { $price: 1, $quantity: 2, plain: 3 } }])).toBe('ok');
  });

  it('bounds the nesting of every field at 40, not only the property objects', () => {
    const deep = (depth: number): unknown => {
      let value: unknown = 'leaf';
      for (let i = 1; i < depth; i++) value = i % 2 ? [value] : { d: value };
      return { top: value };
    };
    for (const field of ['event_properties', 'user_properties', 'groups', 'group_properties', 'plan', 'ingestion_metadata', 'my_own_field']) {
      expect(lists([{ ...ok, [field]: deep(40) }]), field).toBe('ok');
      expect(lists([{ ...ok, [field]: deep(41) }]), field).toMatchObject({ events_with_invalid_fields: { [field]: [0] } });
    }
    // A field name too long to echo is reported as the event.
    expect(lists([{ ...ok, ['n'.repeat(1025)]: deep(41) }])).toMatchObject({ events_with_invalid_fields: { event: [0] } });
  });

  it('bounds nesting the same when the depth is read from the body’s text (scanEventsBody) instead of walked', () => {
    const deep = (depth: number): unknown => {
      // Brackets inside strings do not count.
      let value: unknown = 'leaf {[[';
      for (let i = 1; i < depth; i++) value = i % 2 ? [value, '}]"\\'] : { d: value, s: '{"[' };
      return { top: value };
    };
    const viaText = (events: unknown[]) => {
      const bytes = Buffer.from(JSON.stringify({ api_key: 'k', events }));
      const scan = scanEventsBody(bytes);
      if (scan.overBudget || !scan.events) throw new Error('no spans');
      const r = acceptEventsBody(JSON.parse(bytes.toString()), lookup, 1, { bytes, spans: scan.events });
      return r.ok ? 'ok' : r.error.body;
    };
    for (const field of ['event_properties', 'user_properties', 'plan', 'my_own_field']) {
      expect(viaText([ok, { ...ok, [field]: deep(40) }]), field).toBe('ok');
      expect(viaText([ok, { ...ok, [field]: deep(41) }]), field).toMatchObject({ events_with_invalid_fields: { [field]: [1] } });
      expect(viaText([{ ...ok, [field]: deep(41) }, ok]), field).toEqual(lists([{ ...ok, [field]: deep(41) }, ok]));
    }
  });

  it('lists every bad index and stores none', () => {
    const result = lists([ok, { user_id: 'abc', event_type: 'x' }, ok, { user_id: 'user-12345' }, { ...ok, time: 'x' }, { ...ok, time: 'y' }]);
    expect(result).toEqual({
      code: 400,
      error: 'Invalid field values on some events',
      events_with_invalid_fields: { time: [4, 5] },
      events_with_missing_fields: { event_type: [3] },
      events_with_invalid_id_lengths: { user_id: [1] },
    });
  });

  it('honours options.min_id_length', () => {
    const body = { api_key: 'k', options: { min_id_length: 3 }, events: [{ user_id: '12345', device_id: '123', event_type: 'x' }] };
    expect(acceptEventsBody(body, lookup, 1).ok).toBe(true);
    expect(acceptEventsBody({ ...body, options: {} }, lookup, 1).ok).toBe(false);
    expect(acceptEventsBody({ ...body, options: { min_id_length: 1 }, events: [{ user_id: 'a', event_type: 'x' }] }, lookup, 1).ok).toBe(true);
    const stricter = acceptEventsBody({ ...body, options: { min_id_length: 10 }, events: [{ user_id: 'user-12345', device_id: 'device-1', event_type: 'x' }] }, lookup, 1);
    expect(stricter.ok ? undefined : stricter.error.body).toMatchObject({ events_with_invalid_id_lengths: { device_id: [0] } });
  });

  it.each([['a string', '3'], ['zero', 0], ['negative', -1], ['a fraction', 2.5], ['past 1024', 2000], ['null', null], ['an object', { n: 3 }]])(
    'ignores options.min_id_length given as %s (default 5 applies)',
    (_name, minIdLength) => {
      expect(minIdLengthOf({ min_id_length: minIdLength })).toBe(5);
    },
  );

  it('bounds nesting depth', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 45; i++) deep = { d: deep };
    expect(depthExceeds(deep, 40)).toBe(true);
    expect(lists([{ ...ok, event_properties: deep }])).toMatchObject({ events_with_invalid_fields: { event_properties: [0] } });
    let shallow: unknown = 'leaf';
    for (let i = 0; i < 39; i++) shallow = { d: shallow };
    expect(depthExceeds(shallow, 40)).toBe(false);
  });

  it('treats operation objects strictly', () => {
    expect(userPropertiesValid({ a: 1, b: 2 })).toBe(true);
    expect(userPropertiesValid({ $add: { n: 1 }, $unset: { x: '-' } })).toBe(true);
    expect(userPropertiesValid({ $add: [1] })).toBe(false);
  });
});

describe('request-level answers', () => {
  it.each([
    ['not an object', [1], { code: 400, error: 'Invalid JSON request body' }],
    ['no api_key', { events: [ok] }, { code: 400, error: 'Request missing required field', missing_field: 'api_key' }],
    ['numeric api_key', { api_key: 5, events: [ok] }, { code: 400, error: 'Request missing required field', missing_field: 'api_key' }],
    ['no events', { api_key: 'k' }, { code: 400, error: 'Request missing required field', missing_field: 'events' }],
    ['events not a list', { api_key: 'k', events: {} }, { code: 400, error: 'Request missing required field', missing_field: 'events' }],
    ['too many events', { api_key: 'k', events: new Array(2001).fill(ok) }, { code: 413, error: 'Payload too large' }],
  ])('%s', (_name, body, expected) => {
    const r = acceptEventsBody(body, lookup, 1);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.body).toEqual(expected);
      expect(r.error.status).toBe(expected.code);
    }
  });

  it('answers Invalid API key with only the first four characters', () => {
    const r = acceptEventsBody({ api_key: 'abcdef0123456789', events: [ok] }, () => undefined, 1);
    expect(r.ok ? undefined : r.error.body).toEqual({ code: 400, error: 'Invalid API key: abcd…' });
  });

  it('builds records with partition key, event key and receive time', () => {
    const r = acceptEventsBody({ api_key: 'k', events: [{ ...ok, insert_id: 'i-1', device_id: null }] }, lookup, 42);
    expect(r.ok && r.records).toEqual([
      {
        v: 1,
        kind: 'event',
        projectId: 'p1',
        receivedAt: 42,
        eventKey: 'i:i-1',
        userKey: 'user-12345',
        event: { user_id: 'user-12345', event_type: 'x', insert_id: 'i-1' },
      },
    ]);
  });

  it('gives events without insert_id a deterministic key', () => {
    const a = acceptEventsBody({ api_key: 'k', events: [ok] }, lookup, 1);
    const b = acceptEventsBody({ api_key: 'k', events: [ok] }, lookup, 2);
    expect(a.ok && b.ok && a.records[0]!.eventKey === b.records[0]!.eventKey).toBe(true);
  });
});

describe('identify form', () => {
  it('accepts an object or an array of identifications', () => {
    const one = acceptIdentifyForm({ api_key: 'k', identification: JSON.stringify({ user_id: 'user-12345', user_properties: { a: 1 } }) }, lookup, 1);
    expect(one.ok && one.records.map((r) => [r.kind, r.event.event_type])).toEqual([['identify', '$identify']]);
    const many = acceptIdentifyForm(
      { api_key: 'k', identification: JSON.stringify([{ user_id: 'user-12345' }, { device_id: 'device-1' }]) },
      lookup,
      1,
    );
    expect(many.ok && many.records.length).toBe(2);
  });
  it.each([
    [{ api_key: 'k' }, { code: 400, error: 'missing_event' }],
    [{ api_key: 'k', identification: '{bad json' }, { code: 400, error: 'missing_event' }],
    [{ api_key: 'k', identification: '[]' }, { code: 400, error: 'missing_event' }],
    [{ api_key: 'k', identification: '"str"' }, { code: 400, error: 'missing_event' }],
    [{ identification: '{}' }, { code: 400, error: 'Request missing required field', missing_field: 'api_key' }],
  ])('refuses %j', (fields, body) => {
    const r = acceptIdentifyForm(fields, lookup, 1);
    expect(r.ok ? undefined : r.error.body).toEqual(body);
  });
  it('makes every identification a $identify, whatever event_type it brings', () => {
    const r = acceptIdentifyForm({ api_key: 'k', identification: JSON.stringify({ user_id: 'user-12345', event_type: 'Purchase' }) }, lookup, 1);
    expect(r.ok && r.records[0]!.event.event_type).toBe('$identify');
  });
  it('validates ids like events', () => {
    const r = acceptIdentifyForm({ api_key: 'k', identification: JSON.stringify({ user_id: 'ab' }) }, lookup, 1);
    expect(r.ok ? undefined : r.error.body).toMatchObject({ events_with_invalid_id_lengths: { user_id: [0] } });
  });
});
