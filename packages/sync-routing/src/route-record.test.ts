import { describe, expect, it } from 'vitest';
import { DEFAULT_DELIVERY_SETTINGS, encodeDeliverySegment, itemsOfDeliveryMessage, type IngestedRecord, type SyncSnapshot } from '@inkstream/contracts';
import { messageIdFor } from '@inkstream/movable-ink';
import { compileFilters } from './compile-filters.js';
import { emptyProfile, identifyFingerprint } from './profile.js';
import { routeRecord, type CompiledSync } from './route-record.js';
import { itemHeadJson, segmentPrefix, writeSegment } from './segment-lines.js';

const NOW = 1_800_000_000_000;

function sync(overrides: Partial<SyncSnapshot> = {}): CompiledSync {
  const s: SyncSnapshot = {
    kind: 'sync',
    id: 'sync-1',
    projectId: 'p1',
    name: 's',
    enabled: true,
    endpointUrl: 'https://example.com',
    authorizationSealed: 'v1.x',
    sendEvents: true,
    eventFilters: [{ eventType: '*' }],
    eventProperties: ['price'],
    sendUsers: false,
    userProperties: ['email'],
    delivery: DEFAULT_DELIVERY_SETTINGS,
    version: 1,
    deleted: false,
    updatedAt: '',
    ...overrides,
  };
  return { sync: s, select: compileFilters(s.eventFilters) };
}

function record(event: IngestedRecord['event'], kind: IngestedRecord['kind'] = 'event', key = 'e1'): IngestedRecord {
  return { v: 1, kind, projectId: 'p1', receivedAt: NOW - 5, eventKey: key, userKey: event.user_id ?? event.device_id!, event };
}

const viewed = { event_type: 'Viewed', user_id: 'user-12345', time: NOW - 10, event_properties: { price: 3, other: 1 } };

describe('routeRecord', () => {
  it('builds a track payload for a selected event', () => {
    const r = routeRecord(record(viewed), 1, emptyProfile(), [sync()], NOW);
    expect(r.payloads.map((j) => j.payload)).toEqual([
      { type: 'track', event: 'Viewed', user_id: 'user-12345', timestamp: NOW - 10, message_id: messageIdFor('sync-1', 'track', 'e1'), properties: { price: 3 } },
    ]);
    expect(r.payloads[0]).toMatchObject({ syncId: 'sync-1', userKey: 'user-12345', payloadType: 'track' });
    expect(JSON.parse(itemHeadJson(r.payloads[0]!))).toMatchObject({ receivedAt: NOW - 5 });
  });

  it("gives each payload's segment pieces, exactly what serializing its head and payload gives", () => {
    const s = sync({ sendUsers: true, userProperties: ['email'] });
    const withEmail = { ...viewed, device_id: 'd "1" é', user_properties: { email: 'ä@example.com' } };
    const r = routeRecord(record(withEmail), 7, emptyProfile(), [s], NOW);
    expect(r.payloads.map((j) => j.payloadType)).toEqual(['identify', 'track']);
    for (const p of r.payloads) {
      expect(p.payloadJson).toBe(JSON.stringify(p.payload));
      const headJson = itemHeadJson(p);
      expect(headJson).toBe(JSON.stringify({ messageId: p.messageId, userKey: p.userKey, payloadType: p.payloadType, receivedAt: NOW - 5 }));
      expect(p.bytes).toBe(Buffer.byteLength(headJson) + Buffer.byteLength(p.payloadJson));
    }
    // The pieces make the segment the contract's writer makes, and its reader reads it back.
    const text = writeSegment(segmentPrefix('sync-1', 'p1'), r.payloads).toString();
    const heads = r.payloads.map((p) => JSON.parse(itemHeadJson(p)) as never);
    expect(text).toBe(encodeDeliverySegment({ v: 2, syncId: 'sync-1', projectId: 'p1', payloads: heads }, r.payloads.map((p) => p.payloadJson)));
    expect(itemsOfDeliveryMessage(text).map((i) => JSON.parse(i.payloadJson))).toEqual(r.payloads.map((p) => p.payload));
    const older = { ...record(withEmail), receivedAt: undefined } as unknown as IngestedRecord;
    const o = routeRecord(older, 7, emptyProfile(), [s], NOW);
    expect(o.payloads.map((p) => itemHeadJson(p))).toEqual(o.payloads.map((p) => JSON.stringify({ messageId: p.messageId, userKey: p.userKey, payloadType: p.payloadType })));
    expect(o.payloads.map((p) => p.bytes)).toEqual(o.payloads.map((p) => Buffer.byteLength(itemHeadJson(p)) + Buffer.byteLength(p.payloadJson)));
    // Routed for the filter: no payload objects, the same JSON.
    const lean = routeRecord(record(withEmail), 7, emptyProfile(), [s], NOW, { payloadObjects: false });
    expect(lean.payloads.map((p) => p.payload)).toEqual([undefined, undefined]);
    expect(lean.payloads.map((p) => [p.payloadJson, p.bytes])).toEqual(r.payloads.map((p) => [p.payloadJson, p.bytes]));
  });

  it('skips events that no row selects, and syncs with sendEvents off', () => {
    expect(routeRecord(record(viewed), 1, emptyProfile(), [sync({ eventFilters: [{ eventType: 'Other' }] })], NOW).payloads).toEqual([]);
    expect(routeRecord(record(viewed), 1, emptyProfile(), [sync({ sendEvents: false })], NOW).payloads).toEqual([]);
  });

  it('applies user properties before evaluating user conditions and building the payload', () => {
    const s = sync({ eventFilters: [{ eventType: '*', where: [{ propertyType: 'user', property: 'email', operator: 'exists', values: [] }] }] });
    const withEmail = { ...viewed, user_properties: { email: 'a@example.com' } };
    const r = routeRecord(record(withEmail), 7, emptyProfile(), [s], NOW);
    expect(r.payloads[0]!.payload).toMatchObject({ user_properties: { email: 'a@example.com' } });
    expect(r.changed).toBe(true);
    expect(r.profile).toMatchObject({ properties: { email: 'a@example.com' }, userId: 'user-12345', lastSeq: 7 });
  });

  it('does not mark the profile changed when the properties say what it already holds', () => {
    const set = { ...viewed, user_properties: { $set: { email: 'a@example.com' } } };
    const first = routeRecord(record(set), 1, emptyProfile(), [sync()], NOW);
    expect(first.changed).toBe(true);
    const same = routeRecord(record(set, 'event', 'e2'), 2, first.profile, [sync()], NOW);
    expect(same.changed).toBe(false);
    expect(same.profile.properties).toBe(first.profile.properties);
  });

  it('never applies the operations of a redelivered event twice', () => {
    const add = { ...viewed, user_properties: { $add: { visits: 1 } } };
    const first = routeRecord(record(add), 5, emptyProfile(), [sync()], NOW);
    expect(first.profile.properties).toEqual({ visits: 1 });
    const again = routeRecord(record(add), 5, first.profile, [sync()], NOW);
    expect(again.profile.properties).toEqual({ visits: 1 });
    expect(again.payloads.map((j) => j.messageId)).toEqual(first.payloads.map((j) => j.messageId));
  });

  describe('Send Users', () => {
    const users = sync({ sendUsers: true });
    it('introduces a new user with an identify before the track', () => {
      const r = routeRecord(record({ ...viewed, user_properties: { email: 'a@example.com' } }), 1, emptyProfile(), [users], NOW);
      expect(r.payloads.map((j) => j.payloadType)).toEqual(['identify', 'track']);
      expect(r.payloads[0]!.payload).toEqual({
        type: 'identify',
        user_id: 'user-12345',
        timestamp: NOW - 10,
        message_id: messageIdFor('sync-1', 'identify', 'e1'),
        traits: { email: 'a@example.com' },
      });
    });
    it('sends no identify while nothing selected changed, one when it does', () => {
      const first = routeRecord(record({ ...viewed, user_properties: { email: 'a@example.com' } }), 1, emptyProfile(), [users], NOW);
      const same = routeRecord(record({ ...viewed, user_properties: { unrelated: 1 } }, 'event', 'e2'), 2, first.profile, [users], NOW);
      expect(same.payloads.map((j) => j.payloadType)).toEqual(['track']);
      const changed = routeRecord(record({ ...viewed, user_properties: { email: 'b@example.com' } }, 'event', 'e3'), 3, same.profile, [users], NOW);
      expect(changed.payloads.map((j) => j.payloadType)).toEqual(['identify', 'track']);
    });
    it('fingerprints the same properties object per sync selection and pairing (remembered, never mixed up)', () => {
      const properties = { email: 'a@example.com', plan: 'pro' };
      const before = { ...emptyProfile(), properties, lastSeq: 1 };
      const a = sync({ id: 'a', sendUsers: true, userProperties: ['email'] });
      const b = sync({ id: 'b', sendUsers: true, userProperties: ['plan'] });
      for (let i = 0; i < 2; i++) {
        for (const [userId, deviceId] of [['u1', undefined], ['u2', undefined], ['u1', 'd1']] as const) {
          const r = routeRecord(record({ event_type: 'Viewed', user_id: userId, ...(deviceId ? { device_id: deviceId } : {}) }, 'event', `e${i}`), 2 + i, before, [a, b], NOW);
          expect(r.profile.properties).toBe(properties);
          expect(r.profile.identified).toEqual({
            a: identifyFingerprint(userId, deviceId, { email: 'a@example.com' }),
            b: identifyFingerprint(userId, deviceId, { plan: 'pro' }),
          });
        }
      }
    });
    it('sends an identify when the user_id/device_id pairing changes', () => {
      const first = routeRecord(record(viewed), 1, emptyProfile(), [users], NOW);
      const paired = routeRecord(record({ ...viewed, device_id: 'device-1' }, 'event', 'e2'), 2, first.profile, [users], NOW);
      expect(paired.payloads[0]!.payload).toMatchObject({ type: 'identify', user_id: 'user-12345', anonymous_id: 'device-1' });
    });
    it('forwards every Identify API call and $identify event, without a track', () => {
      const api = routeRecord(record({ event_type: '$identify', user_id: 'user-12345', user_properties: { email: 'x@example.com' } }, 'identify'), 1, emptyProfile(), [users], NOW);
      expect(api.payloads.map((j) => j.payloadType)).toEqual(['identify']);
      const again = routeRecord(record({ event_type: '$identify', user_id: 'user-12345' }, 'event', 'e2'), 2, api.profile, [users], NOW);
      expect(again.payloads.map((j) => j.payloadType)).toEqual(['identify']);
      expect(routeRecord(record({ event_type: '$identify', user_id: 'user-12345' }), 1, emptyProfile(), [sync()], NOW).payloads).toEqual([]);
    });
    it('ignores $groupidentify for the user profile', () => {
      const r = routeRecord(record({ event_type: '$groupidentify', user_id: 'user-12345', group_properties: { $set: { a: 1 } }, user_properties: { email: 'x' } }), 1, emptyProfile(), [users], NOW);
      expect(r.payloads).toEqual([]);
      expect(r.profile.properties).toEqual({});
    });
  });

  it('discards payloads older than 30 days, with the reason', () => {
    const old = { ...viewed, time: NOW - 31 * 86_400_000 };
    const r = routeRecord(record(old), 1, emptyProfile(), [sync()], NOW);
    expect(r.payloads).toEqual([]);
    expect(r.discards).toEqual([
      { syncId: 'sync-1', payloadType: 'track', messageId: messageIdFor('sync-1', 'track', 'e1'), reason: 'older than 30 days' },
    ]);
  });

  it('discards a payload larger than maxRequestBytes', () => {
    const big = { ...viewed, event_properties: { price: 'x'.repeat(2_000) } };
    const r = routeRecord(record(big), 1, emptyProfile(), [sync({ delivery: { ...DEFAULT_DELIVERY_SETTINGS, maxRequestBytes: 1_000 } })], NOW);
    expect(r.discards.map((d) => d.reason)).toEqual(['larger than maxRequestBytes']);
  });

  describe('bounds', () => {
    const everything = (id: string) => sync({ id, sendUsers: true, userProperties: ['*'] });
    const essay = { ...viewed, user_properties: { email: 'a@example.com', essay: 'x'.repeat(300_000) } };

    it('keeps one hash per sync, not a copy of the traits: three syncs and a 300 KB trait fit', () => {
      const r = routeRecord(record(essay), 1, emptyProfile(), [everything('s1'), everything('s2'), everything('s3')], NOW);
      expect(r.payloads.map((j) => [j.syncId, j.payloadType])).toEqual([
        ['s1', 'identify'], ['s1', 'track'], ['s2', 'identify'], ['s2', 'track'], ['s3', 'identify'], ['s3', 'track'],
      ]);
      expect(r.droppedTraits).toEqual([]);
      expect(Buffer.byteLength(r.serialized!)).toBeLessThan(301_000);
      expect(r.serialized).toBe(JSON.stringify(r.profile));
      expect(r.profile.identified.s1).toBe(identifyFingerprint('user-12345', undefined, { email: 'a@example.com', essay: 'x'.repeat(300_000) }));
    });

    it('drops the largest traits to stay within maxProfileBytes, before building payloads', () => {
      const r = routeRecord(record(essay), 1, emptyProfile(), [everything('s1')], NOW, { maxProfileBytes: 100_000 });
      expect(r.droppedTraits).toEqual(['essay']);
      expect(r.profile.properties).toEqual({ email: 'a@example.com' });
      expect(r.payloads.map((j) => j.payload)).toMatchObject([{ traits: { email: 'a@example.com' } }, { user_properties: { email: 'a@example.com' } }]);
      expect(Buffer.byteLength(r.serialized!)).toBeLessThanOrEqual(100_000);
    });

    it('a trait too large to keep changes nothing when the rest is as before', () => {
      const first = routeRecord(record({ ...viewed, user_properties: { email: 'a@example.com' } }), 1, emptyProfile(), [sync()], NOW);
      const again = routeRecord(record(essay, 'event', 'e2'), 2, first.profile, [sync()], NOW, { maxProfileBytes: 100_000 });
      expect(again.droppedTraits).toEqual(['essay']);
      expect(again.changed).toBe(false);
      expect(again.profile.properties).toBe(first.profile.properties);
    });

    it('serializes the profile as JSON.stringify does, at the bound and past it', () => {
      const s = sync({ sendUsers: true, userProperties: ['*'] });
      const at = routeRecord(record(essay), 1, emptyProfile(), [s], NOW);
      const bytes = Buffer.byteLength(at.serialized!);
      for (const maxProfileBytes of [bytes, bytes - 1, bytes + 127, bytes + 128]) {
        const r = routeRecord(record(essay), 1, emptyProfile(), [s], NOW, { maxProfileBytes });
        expect(r.serialized).toBe(JSON.stringify(r.profile));
        expect(Buffer.byteLength(r.serialized!)).toBeLessThanOrEqual(maxProfileBytes);
        for (const p of r.payloads) expect(p.payloadJson).toBe(JSON.stringify(p.payload));
      }
    });

    it('discards a payload whose delivery segment the NATS server could not carry, with its reason', () => {
      const big = { ...viewed, event_properties: { price: 'x'.repeat(1_500_000) } };
      const wide = sync({ delivery: { ...DEFAULT_DELIVERY_SETTINGS, maxRequestBytes: 2_000_000 } });
      const r = routeRecord(record(big), 1, emptyProfile(), [wide], NOW, { maxDeliveryBytes: 1_048_576 - 4_096 });
      expect(r.payloads).toEqual([]);
      expect(r.discards).toEqual([
        { syncId: 'sync-1', payloadType: 'track', messageId: messageIdFor('sync-1', 'track', 'e1'), reason: 'too large for NATS' },
      ]);
      // Without the bound the same payload is queued: maxRequestBytes allows it.
      expect(routeRecord(record(big), 1, emptyProfile(), [wide], NOW).payloads).toHaveLength(1);
    });

    it('measures the payload as a segment of its own exactly as it is published (without trace context)', () => {
      const r = routeRecord(record(viewed), 1, emptyProfile(), [sync()], NOW);
      const p = r.payloads[0]!;
      const bytes = writeSegment(segmentPrefix('sync-1', 'p1'), [p]).length;
      expect(routeRecord(record(viewed), 1, emptyProfile(), [sync()], NOW, { maxDeliveryBytes: bytes }).payloads).toHaveLength(1);
      expect(routeRecord(record(viewed), 1, emptyProfile(), [sync()], NOW, { maxDeliveryBytes: bytes - 1 }).payloads).toHaveLength(0);
    });
  });

  describe('a discarded identify is not remembered as sent', () => {
    const users = sync({ sendUsers: true });
    it.each<[string, Partial<IngestedRecord['event']>, Partial<SyncSnapshot['delivery']>]>([
      ['older than 30 days', { time: NOW - 31 * 86_400_000 }, {}],
      ['larger than maxRequestBytes', { user_properties: { email: 'x'.repeat(2_000) } }, { maxRequestBytes: 1_000 }],
    ])('%s: the next event with the same traits still identifies the user', (_name, change, delivery) => {
      const s = sync({ sendUsers: true, delivery: { ...DEFAULT_DELIVERY_SETTINGS, ...delivery } });
      const first = routeRecord(record({ ...viewed, user_properties: { email: 'a@example.com' }, ...change }), 1, emptyProfile(), [s], NOW);
      expect(first.discards.map((d) => d.payloadType)).toContain('identify');
      expect(first.profile.identified).toEqual({});
      const later = { ...viewed, user_properties: { email: 'a@example.com' }, ...change, time: NOW - 10 };
      const next = routeRecord(record(later, 'event', 'e2'), 2, first.profile, [sync({ sendUsers: true })], NOW);
      expect(next.payloads.map((j) => j.payloadType)).toEqual(['identify', 'track']);
      expect(next.profile.identified['sync-1']).toBeDefined();
    });
    it('a profile stored with the old JSON fingerprint is not identified again', () => {
      const before = { ...emptyProfile(), userId: 'user-12345', properties: { email: 'a@example.com' }, lastSeq: 1, identified: { 'sync-1': JSON.stringify(['user-12345', null, { email: 'a@example.com' }]) } };
      const r = routeRecord(record(viewed, 'event', 'e2'), 2, before, [users], NOW);
      expect(r.payloads.map((j) => j.payloadType)).toEqual(['track']);
      // And it is saved in today's compact form.
      expect(r.changed).toBe(true);
      expect(r.profile.identified).toEqual({ 'sync-1': identifyFingerprint('user-12345', undefined, { email: 'a@example.com' }) });
    });
    it('an old profile whose bulk is its per-sync copies of the traits keeps its traits', () => {
      const traits = { email: 'a@example.com', essay: 'x'.repeat(200_000) };
      const old = JSON.stringify(['user-12345', null, traits]);
      const before = { ...emptyProfile(), userId: 'user-12345', properties: traits, lastSeq: 1, identified: { s1: old, s2: old, s3: old } };
      const everything = (id: string) => sync({ id, sendUsers: true, userProperties: ['*'] });
      const r = routeRecord(record({ ...viewed, user_properties: { plan: 'pro' } }, 'event', 'e2'), 2, before, [everything('s1'), everything('s2'), everything('s3')], NOW);
      expect(r.droppedTraits).toEqual([]);
      expect(r.profile.properties).toEqual({ ...traits, plan: 'pro' });
      expect(Buffer.byteLength(r.serialized!)).toBeLessThan(210_000);
    });
  });

  it("gives the payloads' and the profile's JSON byte for byte as JSON.stringify of their objects", () => {
    const syncs = [
      sync({ sendUsers: true, userProperties: ['plan', 'email', '3'], eventProperties: ['*'] }),
      sync({ id: 'sync-2', sendUsers: true, userProperties: ['*'], eventProperties: ['price', '10', 'missing'] }),
      sync({ id: 'sync-3', userProperties: ['plan'], eventProperties: [] }),
    ];
    const events: Array<[IngestedRecord['event'], IngestedRecord['kind']]> = [
      [{ ...viewed, device_id: 'd "é" \u2028', user_properties: { $set: { plan: 'pro', '3': [1, { a: null }] }, $add: { n: 1.5 } } }, 'event'],
      [{ event_type: 'Quote "x"', device_id: 'device-only', time: NOW - 1, event_properties: { '10': 'ten', price: -0, big: 1e21 } }, 'event'],
      [{ event_type: '$identify', user_id: 'user-12345', user_properties: { email: 'ü@example.com' } }, 'identify'],
      [{ ...viewed, user_id: 'user-12345', user_properties: { $unset: { plan: '-' } } }, 'event'],
      [{ ...viewed, user_id: 'user-12345', user_properties: { plan: 'pro' } }, 'event'],
      [{ event_type: '$groupidentify', user_id: 'user-12345', group_properties: { $set: { a: 1 } } }, 'event'],
    ];
    let before = emptyProfile();
    events.forEach(([event, kind], i) => {
      const r = routeRecord(record(event, kind, `e${i}`), i + 1, before, syncs, NOW);
      for (const p of r.payloads) expect(p.payloadJson).toBe(JSON.stringify(p.payload));
      if (r.changed) expect(r.serialized).toBe(JSON.stringify(r.profile));
      const lean = routeRecord(record(event, kind, `e${i}`), i + 1, before, syncs, NOW, { payloadObjects: false });
      expect(lean.payloads.map((p) => p.payloadJson)).toEqual(r.payloads.map((p) => p.payloadJson));
      expect(lean.serialized).toBe(r.serialized);
      before = r.profile;
    });
  });

  it('routes to every active sync of the project independently', () => {
    const r = routeRecord(record(viewed), 1, emptyProfile(), [sync(), sync({ id: 'sync-2', eventProperties: [] })], NOW);
    expect(r.payloads.map((j) => [j.syncId, j.payload!.message_id])).toEqual([
      ['sync-1', messageIdFor('sync-1', 'track', 'e1')],
      ['sync-2', messageIdFor('sync-2', 'track', 'e1')],
    ]);
  });
});
