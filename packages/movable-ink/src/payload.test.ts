import { createHash } from 'node:crypto';
import type { AmplitudeEvent } from '@inkstream/contracts';
import { describe, expect, it } from 'vitest';
import {
  buildIdentifyPayload,
  buildTrackPayload,
  discardReason,
  discardReasonOf,
  identifyPayloadJson,
  identityJson,
  pickAllowed,
  pickedJson,
  timestampOf,
  trackPayloadJson,
} from './payload.js';
import { messageIdFor } from './message-id.js';
import { basicAuthorization, maskAuthorization } from './authorization.js';
import { buildRequest, ENVELOPE_BYTES, requestBody, requestHeaders } from './request.js';

const event = {
  event_type: 'Product Viewed',
  user_id: 'user-12345',
  device_id: 'C8F9E604-F01A-4BD9',
  time: 1709566376409,
  event_properties: { product_id: '622c6f5d', price: 49.99, categories: ['a', 'b'], secret: 'x' },
};

describe('track payload', () => {
  it('keeps only allow-listed properties, with their types', () => {
    const p = buildTrackPayload(
      { syncId: 's1', event, eventKey: 'ins-1', receivedAt: 1, profile: { email: 'a@example.com', plan: 'pro' } },
      { eventProperties: ['product_id', 'price', 'categories', 'missing'], userProperties: ['email'] },
    );
    expect(p).toEqual({
      type: 'track',
      event: 'Product Viewed',
      user_id: 'user-12345',
      anonymous_id: 'C8F9E604-F01A-4BD9',
      timestamp: 1709566376409,
      message_id: messageIdFor('s1', 'track', 'ins-1'),
      properties: { product_id: '622c6f5d', price: 49.99, categories: ['a', 'b'] },
      user_properties: { email: 'a@example.com' },
    });
  });

  it('omits absent ids and empty objects, falls back to receive time', () => {
    const p = buildTrackPayload(
      { syncId: 's1', event: { event_type: 'x', device_id: 'dev-1' }, eventKey: 'k', receivedAt: 42, profile: {} },
      { eventProperties: ['a'], userProperties: ['b'] },
    );
    expect(p).toEqual({ type: 'track', event: 'x', anonymous_id: 'dev-1', timestamp: 42, message_id: p.message_id });
  });

  it('"*" selects every property', () => {
    expect(pickAllowed({ a: 1, b: { c: 2 } }, ['*'])).toEqual({ a: 1, b: { c: 2 } });
    expect(pickAllowed({ a: 1 }, [])).toBeUndefined();
  });
});

describe('identify payload', () => {
  it('carries traits from the profile', () => {
    const p = buildIdentifyPayload(
      { syncId: 's1', event, eventKey: 'ins-1', receivedAt: 1, profile: { email: 'a@example.com', plan: 'pro', x: 1 } },
      { eventProperties: [], userProperties: ['email', 'plan'] },
    );
    expect(p.traits).toEqual({ email: 'a@example.com', plan: 'pro' });
    expect(p.type).toBe('identify');
    expect(p.message_id).not.toBe(messageIdFor('s1', 'track', 'ins-1'));
  });
});

describe('payload JSON from pieces', () => {
  const events: AmplitudeEvent[] = [
    event,
    { event_type: 'x', device_id: 'dev-1' },
    { event_type: 'Quote "é" \u2028 \n', user_id: 'ü-12345', device_id: '', time: 1.5, event_properties: { '10': 'n', b: [1, { c: null }], a: 'z', 2: true } },
    { event_type: 'e', user_id: '', time: Number.NaN, event_properties: {} },
    { event_type: 'e', user_id: 'u-12345', time: -0, event_properties: { price: 1e21, tiny: 5e-7, neg: -3.25 } },
    { event_type: 'e', user_id: 42 as unknown as string, device_id: 'd-12345', time: 'soon' as unknown as number },
  ];
  const profiles = [{}, { email: 'a@example.com', plan: 'pro', '7': 'x', nested: { a: [1, 2] } }, { plan: undefined, email: 'é' }];
  const selections = [
    { eventProperties: ['product_id', 'price', 'missing', '10', 'a', '2', 'b', 'neg', 'tiny'], userProperties: ['plan', 'email', '7'] },
    { eventProperties: ['*'], userProperties: ['*'] },
    { eventProperties: [], userProperties: [] },
  ];

  it('is byte for byte the JSON of the payload objects', () => {
    for (const e of events) {
      for (const profile of profiles) {
        for (const selection of selections) {
          for (const receivedAt of [7, Number.POSITIVE_INFINITY]) {
            const source = { syncId: 's1', event: e, eventKey: 'k', receivedAt, profile };
            const track = buildTrackPayload(source, selection);
            const identify = buildIdentifyPayload(source, selection);
            const ids = identityJson(e.user_id, e.device_id);
            const traits = pickedJson(profile, selection.userProperties);
            const timestamp = timestampOf(e, receivedAt);
            expect(trackPayloadJson(e.event_type, ids, timestamp, track.message_id, pickedJson(e.event_properties, selection.eventProperties), traits)).toBe(
              JSON.stringify(track),
            );
            expect(identifyPayloadJson(ids, timestamp, identify.message_id, traits)).toBe(JSON.stringify(identify));
            const bytes = Buffer.byteLength(JSON.stringify(track));
            expect(discardReasonOf(ids !== '', timestamp, bytes, 1_000, 1709566376409)).toBe(discardReason(track, bytes, 1_000, 1709566376409));
          }
        }
      }
    }
  });
});

describe('message id', () => {
  it('is stable and differs by sync, type and event', () => {
    const id = messageIdFor('s1', 'track', 'e1');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(messageIdFor('s1', 'track', 'e1')).toBe(id);
    expect(messageIdFor('s2', 'track', 'e1')).not.toBe(id);
    expect(messageIdFor('s1', 'identify', 'e1')).not.toBe(id);
    expect(messageIdFor('s1', 'track', 'e2')).not.toBe(id);
  });
});

describe('discard reasons', () => {
  const now = 1709566376409;
  const base = { type: 'track' as const, event: 'x', timestamp: now, message_id: 'm', user_id: 'u-12345' };
  it.each([
    [base, 100, undefined],
    [{ ...base, user_id: undefined }, 100, 'no user id or device id'],
    [{ ...base, timestamp: now - 31 * 86400_000 }, 100, 'older than 30 days'],
    [base, 1_000_000, 'larger than maxRequestBytes'],
  ])('%#', (payload, bytes, reason) => {
    expect(discardReason(payload, bytes, 1_000_000, now)).toBe(reason);
  });
});

describe('authorization and request', () => {
  it('encodes Basic like Movable Ink expects', () => {
    expect(basicAuthorization('test', 'test')).toBe('Basic dGVzdDp0ZXN0');
    expect(basicAuthorization('movable_ink1', 'movable_ink2')).toBe('Basic bW92YWJsZV9pbmsxOm1vdmFibGVfaW5rMg==');
  });
  it('masks all but the tail', () => {
    expect(maskAuthorization('Basic bW92YWJsZV9pbmsxOm1vdmFibGVfaW5rMg==')).toBe('Basic ****5rMg==');
    expect(maskAuthorization('Basic dGVzdDp0ZXN0')).toBe('Basic ****');
  });
  it('sends one payload as itself and several in an envelope', () => {
    const a = { type: 'identify' as const, user_id: 'u-12345', timestamp: 1, message_id: 'a' };
    const single = buildRequest([a], 'Basic x');
    expect(JSON.parse(single.body)).toEqual(a);
    expect(single.headers).toMatchObject({ 'content-type': 'application/json', authorization: 'Basic x' });
    expect(single.headers['user-agent']).toMatch(/^inkstream\//);
    expect(JSON.parse(buildRequest([a, a], 'Basic x').body)).toEqual({ events: [a, a] });
    // A batching sync (batchSize > 1) flushing a single payload still sends the envelope.
    expect(JSON.parse(buildRequest([a], 'Basic x', { batched: true }).body)).toEqual({ events: [a] });
    expect(JSON.parse(buildRequest([a], 'Basic x', { batched: false }).body)).toEqual(a);
  });
  it('builds the same bytes from payloads serialized once', () => {
    const a = { type: 'identify' as const, user_id: 'u-12345', timestamp: 1, message_id: 'a' };
    const b = { type: 'track' as const, event: 'E "quoted"', user_id: 'ü', timestamp: 2, message_id: 'b' };
    const json = [JSON.stringify(a), JSON.stringify(b)];
    expect(requestBody(json)).toBe(buildRequest([a, b], 'Basic x').body);
    expect(requestBody([json[0]!])).toBe(buildRequest([a], 'Basic x').body);
    expect(requestBody([json[0]!], { batched: true })).toBe(buildRequest([a], 'Basic x', { batched: true }).body);
    expect(Buffer.byteLength(requestBody(json))).toBe(ENVELOPE_BYTES + Buffer.byteLength(json[0]!) + 1 + Buffer.byteLength(json[1]!));
    expect(requestHeaders('Basic x')).toEqual(buildRequest([a], 'Basic x').headers);
    expect(() => requestBody([])).toThrow();
  });
});

describe('messageIdFor', () => {
  it('is pinned: ids stored before (dedup, retry state, dead letters) keep matching', () => {
    // Computed with createHash('sha256') before the one-shot digest replaced it.
    expect(messageIdFor('s1', 'track', 'ins-1')).toBe('8020f01f-88c4-86ab-a5ba-374aa2de97d3');
  });

  it('is the digest formatted as a UUID, for every variant digit', () => {
    // The format as first written: slices of the hex digest, its 17th digit turned into the variant.
    const reference = (syncId: string, type: 'track' | 'identify', key: string) => {
      const h = createHash('sha256').update(`${syncId}\u0000${type}\u0000${key}`).digest('hex');
      const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
    };
    const digits = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const key = `i:ü-${i}`;
      expect(messageIdFor('sync-1', i % 2 ? 'track' : 'identify', key)).toBe(reference('sync-1', i % 2 ? 'track' : 'identify', key));
      digits.add(createHash('sha256').update(`sync-1\u0000${i % 2 ? 'track' : 'identify'}\u0000${key}`).digest('hex')[16]!);
    }
    expect(digits.size).toBe(16);
  });
});
