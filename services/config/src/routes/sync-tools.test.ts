import { createServer } from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDENTIFY_EVENT_TYPE, type AmplitudeEvent, type IngestedRecord } from '@inkstream/contracts';
import { messageIdFor, pickAllowed } from '@inkstream/movable-ink';
import { compileFilters, profileKey, routeRecord, type ProfileEntry } from '@inkstream/sync-routing';
import { MovableInkStandIn } from '@inkstream/testing';
import { outbox, syncs } from '../db/schema.js';
import { syncSnapshot } from '../syncs/snapshot.js';
import { postgresDriver, type OpenedTestDatabase } from '../testing/drivers.js';
import { startApp, syncBody, type AppHarness } from '../testing/harness.js';
import { captureLogs } from '../testing/logs.js';
import { openTestNats, type TestNats } from '../testing/nats.js';

const unknownId = '00000000-0000-4000-8000-000000000000';
const DAY = 24 * 3600 * 1000;

interface Preview {
  selected: boolean;
  reason?: string;
  payloads: Array<Record<string, unknown>>;
  discarded: Array<{ payloadType: string; messageId: string; reason: string }>;
  notes: string[];
}

describe('tools for the admin', () => {
  let database: OpenedTestDatabase;
  let nats: TestNats;
  let h: AppHarness;
  let projectId: string;

  beforeAll(async () => {
    const logs = captureLogs();
    database = await postgresDriver.open(logs.logger);
    nats = await openTestNats(logs.logger);
    h = await startApp(database.handle, { nats, allowPrivateEndpoints: true });
    projectId = (await h.api('POST', '/v1/projects', { name: 'Shop' })).json<{ id: string }>().id;
  });
  afterAll(async () => {
    await h?.close();
    await nats?.dispose();
    await database?.dispose();
  });

  const newSync = async (overrides: Record<string, unknown> = {}) => {
    const res = await h.api('POST', `/v1/projects/${projectId}/syncs`, syncBody({ enabled: true, ...overrides }));
    expect(res.statusCode, res.body).toBe(201);
    return res.json<{ id: string }>().id;
  };

  describe('preview', () => {
    const routing = {
      eventFilters: [
        { eventType: 'Product Viewed', where: [{ propertyType: 'event', property: 'price', operator: 'greater', values: [10] }] },
        { eventType: 'Order Completed' },
        { eventType: 'Plan Changed', where: [{ propertyType: 'user', property: 'plan', operator: 'is', values: ['pro'] }] },
      ],
      eventProperties: ['product_id', 'price'],
      sendUsers: true,
      userProperties: ['email', 'plan'],
    };
    const user = 'user-12345';
    let syncId: string;
    let stored: ProfileEntry;

    beforeAll(async () => {
      syncId = await newSync(routing);
      // The filter has seen this user before and sent them to the sync as they are.
      const properties = { email: 'a@example.com', plan: 'free', visits: 3 };
      const fingerprint = JSON.stringify([user, null, pickAllowed(properties, routing.userProperties) ?? null]);
      stored = { v: 1, properties, userId: user, lastSeq: 41, identified: { [syncId]: fingerprint } };
      await nats.profiles.put(profileKey(projectId, user), JSON.stringify(stored));
    });

    const preview = async (id: string, body: unknown) => {
      const res = await h.api('POST', `/v1/syncs/${id}/preview`, body);
      expect(res.statusCode, res.body).toBe(200);
      return res.json<Preview>();
    };
    /** What the filter's own routing makes of the same record, with the stored profile. */
    const filterWouldSend = async (id: string, kind: IngestedRecord['kind'], event: AmplitudeEvent, profile: ProfileEntry | undefined) => {
      const [row] = await database.handle.db.select().from(syncs).where(eq(syncs.id, id));
      const sync = syncSnapshot(row!);
      const before = profile ?? { v: 1 as const, properties: {}, lastSeq: 0, identified: {} };
      const record: IngestedRecord = {
        v: 1,
        kind,
        projectId,
        receivedAt: Date.now(),
        eventKey: `i:${event.insert_id}`,
        userKey: (event.user_id ?? event.device_id)!,
        event,
      };
      const routed = routeRecord(record, before.lastSeq + 1, before, [{ sync, select: compileFilters(sync.eventFilters) }], Date.now());
      return {
        payloads: routed.payloads.map((job) => job.payload),
        discarded: routed.discards.map((d) => ({ payloadType: d.payloadType, messageId: d.messageId, reason: d.reason })),
      };
    };

    const time = Date.now() - 60_000;
    it.each<[string, AmplitudeEvent, boolean, string | undefined, string[]]>([
      ['a selected event', { event_type: 'Product Viewed', user_id: user, time, insert_id: 'e1', event_properties: { price: 49.99, product_id: 'p-1', color: 'red' } }, true, undefined, ['track']],
      ['a condition that does not hold', { event_type: 'Product Viewed', user_id: user, time, insert_id: 'e2', event_properties: { price: 5 } }, false, 'eventFilters row 0 ("Product Viewed") matches the event type but not all of its where conditions', []],
      ['an event type no row names', { event_type: 'Page Viewed', user_id: user, time, insert_id: 'e3' }, false, 'no eventFilters row matches event_type "Page Viewed"', []],
      ['changed user properties', { event_type: 'Order Completed', user_id: user, time, insert_id: 'e4', user_properties: { $set: { plan: 'pro' } } }, true, undefined, ['identify', 'track']],
      ['a user condition on the profile after the event', { event_type: 'Plan Changed', user_id: user, time, insert_id: 'e5', user_properties: { plan: 'pro' } }, true, undefined, ['identify', 'track']],
      ['an event older than 30 days', { event_type: 'Order Completed', user_id: user, time: Date.now() - 31 * DAY, insert_id: 'e6' }, false, 'discarded: older than 30 days', []],
      ['a $identify event', { event_type: IDENTIFY_EVENT_TYPE, user_id: user, time, insert_id: 'e7', user_properties: { $set: { email: 'b@example.com' } } }, true, undefined, ['identify']],
      ['a $groupidentify event', { event_type: '$groupidentify', user_id: user, time, insert_id: 'e8', groups: { org: 'x' } }, false, 'group identifications ($groupidentify) are never sent to Movable Ink', []],
    ])('gives what the filter gives for %s', async (_name, event, selected, reason, types) => {
      const answer = await preview(syncId, { event });
      expect(answer.selected).toBe(selected);
      expect(answer.reason).toBe(reason);
      expect(answer.payloads.map((p) => p.type)).toEqual(types);
      const expected = await filterWouldSend(syncId, 'event', event, stored);
      expect(answer.payloads).toEqual(expected.payloads);
      expect(answer.discarded).toEqual(expected.discarded);
      expect(answer.notes).not.toContain('the sync is disabled: nothing is sent until it is enabled');
    });

    it('builds the payload exactly, with the message_id of the event', async () => {
      const answer = await preview(syncId, {
        event: { event_type: 'Product Viewed', user_id: user, device_id: 'device-777', time, insert_id: 'exact-1', event_properties: { price: 12, product_id: 'p-9', secret: 'x' } },
      });
      expect(answer.payloads).toEqual([
        {
          type: 'identify',
          user_id: user,
          anonymous_id: 'device-777',
          timestamp: time,
          message_id: messageIdFor(syncId, 'identify', 'i:exact-1'),
          traits: { email: 'a@example.com', plan: 'free' },
        },
        {
          type: 'track',
          event: 'Product Viewed',
          user_id: user,
          anonymous_id: 'device-777',
          timestamp: time,
          message_id: messageIdFor(syncId, 'track', 'i:exact-1'),
          properties: { price: 12, product_id: 'p-9' },
          user_properties: { email: 'a@example.com', plan: 'free' },
        },
      ]);
      expect(answer.notes).toEqual(['an identify comes first: the user is new to this sync, or their selected user properties or ids changed']);
    });

    it('takes an identification as the Identify API does', async () => {
      const identification = { user_id: user, user_properties: { $set: { plan: 'enterprise' } }, insert_id: 'id-1', time };
      const answer = await preview(syncId, { identification });
      expect(answer).toMatchObject({ selected: true, notes: [] });
      const expected = await filterWouldSend(syncId, 'identify', { ...identification, event_type: IDENTIFY_EVENT_TYPE }, stored);
      expect(answer.payloads).toEqual(expected.payloads);
      expect(answer.payloads[0]).toMatchObject({ type: 'identify', traits: { email: 'a@example.com', plan: 'enterprise' } });
    });

    it('previews a user it has no profile for as a new user', async () => {
      const event = { event_type: 'Order Completed', device_id: 'device-abcdef', time, insert_id: 'new-1' };
      const answer = await preview(syncId, { event });
      expect(answer.selected).toBe(true);
      expect(answer.payloads.map((p) => p.type)).toEqual(['identify', 'track']);
      expect(answer.payloads).toEqual((await filterWouldSend(syncId, 'event', event, undefined)).payloads);
      expect(answer.notes).toContain('no profile is stored for this user yet: previewed as a new user');
    });

    it('previews a disabled sync as it is, saying so', async () => {
      const disabled = await newSync({ ...routing, enabled: false });
      const answer = await preview(disabled, { event: { event_type: 'Order Completed', user_id: user, time, insert_id: 'd-1' } });
      expect(answer.selected).toBe(true);
      expect(answer.notes).toContain('the sync is disabled: nothing is sent until it is enabled');
    });

    it.each<[string, Record<string, unknown>, unknown, string]>([
      ['sendEvents off', { ...routing, sendEvents: false }, { event: { event_type: 'Order Completed', user_id: user, time } }, 'sendEvents is off: events are not sent'],
      ['sendUsers off', { ...routing, sendUsers: false }, { identification: { user_id: user, user_properties: { plan: 'x' } } }, 'sendUsers is off: identifications are not sent'],
      ['no filter rows', { ...routing, eventFilters: [] }, { event: { event_type: 'Order Completed', user_id: user, time } }, 'eventFilters is empty: no event is selected'],
    ])('explains a sync with %s', async (_name, settings, body, reason) => {
      const answer = await preview(await newSync(settings), body);
      expect(answer).toMatchObject({ selected: false, reason });
    });

    it('sends and stores nothing', async () => {
      const key = profileKey(projectId, user);
      const revision = (await nats.profiles.get(key))!.revision;
      const outboxRows = (await database.handle.db.select().from(outbox)).length;
      const streams = async () =>
        Promise.all([nats.topology.streams.delivery.name, nats.topology.streams.outcomes.name].map(async (s) => (await nats.bus.jsm.streams.info(s)).state.messages));
      const messages = await streams();
      await preview(syncId, { event: { event_type: 'Order Completed', user_id: user, time, user_properties: { $add: { visits: 1 } } } });
      expect((await nats.profiles.get(key))!.revision).toBe(revision);
      expect((await database.handle.db.select().from(outbox)).length).toBe(outboxRows);
      expect(await streams()).toEqual(messages);
    });

    it.each<[string, unknown, string]>([
      ['an empty body', {}, 'body must have either event or identification'],
      ['both', { event: { event_type: 'a', user_id: user }, identification: { user_id: user } }, 'body must have only one of event and identification'],
      ['no event type', { event: { user_id: user } }, "body/event must have required property 'event_type'"],
      ['a blank event type', { event: { event_type: '  ', user_id: user } }, 'body/event/event_type must not be blank'],
      ['no ids', { event: { event_type: 'a' } }, 'body/event must have user_id or device_id'],
      ['a short user id', { event: { event_type: 'a', user_id: 'abc' } }, 'body/event/user_id must have at least 5 characters (options.min_id_length)'],
      ['a refused device id', { identification: { device_id: 'Undefined' } }, 'body/identification/device_id is an id Amplitude refuses ("Undefined")'],
      ['a user id that is a number', { event: { event_type: 'a', user_id: 12345 } }, 'body/event/user_id must be string or null'],
      ['an ISO time', { event: { event_type: 'a', user_id: user, time: '2026-01-01T00:00:00Z' } }, 'body/event/time must be integer or null'],
      ['event properties that are a list', { event: { event_type: 'a', user_id: user, event_properties: [1] } }, 'body/event/event_properties must be object or null'],
      ['mixed operations', { event: { event_type: 'a', user_id: user, user_properties: { $set: { a: 1 }, plan: 'x' } } }, 'body/event/user_properties must not mix operations ($set, $add, …) with plain properties, and each operation takes an object'],
      ['deep nesting', { event: { event_type: 'a', user_id: user, event_properties: JSON.parse(`${'{"a":'.repeat(41)}1${'}'.repeat(41)}`) } }, 'body/event/event_properties must not be nested deeper than 40 levels'],
      ['an unknown field', { event: { event_type: 'a', user_id: user }, dryRun: true }, "body must NOT have additional property 'dryRun'"],
    ])('refuses %s naming the field', async (_name, body, message) => {
      const res = await h.api('POST', `/v1/syncs/${syncId}/preview`, body);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ statusCode: 400, error: 'Bad Request', message });
    });

    it('takes a shorter id with options.min_id_length, as HTTP V2 does', async () => {
      const answer = await preview(syncId, { event: { event_type: 'Order Completed', user_id: 'u12', time }, options: { min_id_length: 3 } });
      expect(answer.selected).toBe(true);
    });

    it('404s for an unknown or deleted sync', async () => {
      const body = { event: { event_type: 'a', user_id: user } };
      expect((await h.api('POST', `/v1/syncs/${unknownId}/preview`, body)).statusCode).toBe(404);
      const deleted = await newSync();
      await h.api('DELETE', `/v1/syncs/${deleted}`);
      expect((await h.api('POST', `/v1/syncs/${deleted}/preview`, body)).statusCode).toBe(404);
    });
  });

  describe('test payload', () => {
    const standIn = new MovableInkStandIn();
    let endpoint: string;

    beforeAll(async () => {
      endpoint = `${await standIn.start()}/behavioral/abc123`;
    });
    afterAll(() => standIn.stop());

    const test = async (id: string) => {
      const res = await h.api('POST', `/v1/syncs/${id}/test`);
      expect(res.statusCode, res.body).toBe(200);
      return res.json<Record<string, unknown>>();
    };

    it('sends one identify for the test user with the sync’s authorization, and says what came back', async () => {
      const sync = await newSync({ endpointUrl: endpoint, enabled: false, authorization: { accessKeyId: 'key', accessSecret: 'secret' } });
      standIn.respondWith(() => ({ status: 202, headers: { 'x-request-id': 'mi-req-1' }, body: '{"accepted":true}' }));
      const before = standIn.requests.length;
      const answer = await test(sync);
      expect(answer).toMatchObject({ ok: true, status: 202, responseBody: '{"accepted":true}', error: null, outcome: 'delivered', requestId: 'mi-req-1' });
      expect(answer.latencyMs).toEqual(expect.any(Number));

      const request = standIn.requests[before]!;
      expect(request.method).toBe('POST');
      expect(request.path).toBe('/behavioral/abc123');
      expect(request.headers.authorization).toBe(`Basic ${Buffer.from('key:secret').toString('base64')}`);
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['user-agent']).toMatch(/^inkstream\//);
      expect(request.json).toEqual({ type: 'identify', user_id: 'inkstream-test-user', timestamp: expect.any(Number), message_id: expect.any(String) });
      expect(answer.payload).toEqual(request.json);

      const again = await test(sync);
      expect((again.payload as { message_id: string }).message_id).toBe((answer.payload as { message_id: string }).message_id);
    });

    it('reports a refusal, with the start of the response', async () => {
      const sync = await newSync({ endpointUrl: endpoint });
      standIn.respondWith(() => ({ status: 401, body: JSON.stringify({ error: 'bad key', pad: 'x'.repeat(5_000) }) }));
      const answer = await test(sync);
      expect(answer).toMatchObject({ ok: false, status: 401, outcome: 'failing', error: null });
      expect(answer.responseBody).toMatch(/^\{"error":"bad key"/);
      expect(Buffer.byteLength(answer.responseBody as string)).toBe(2048);
    });

    it('reports a timeout after the sync’s request timeout', async () => {
      const sync = await newSync({ endpointUrl: endpoint, delivery: { requestTimeoutMs: 300 } });
      standIn.respondWith(() => ({ status: 200, hang: true }));
      const answer = await test(sync);
      expect(answer).toMatchObject({ ok: false, status: null, outcome: 'retry', responseBody: '' });
      expect(answer.error).toMatch(/timeout|aborted/i);
    });

    it('reports an endpoint that refuses connections', async () => {
      const closed = await new Promise<number>((resolve) => {
        const server = createServer().listen(0, '127.0.0.1', () => {
          const { port } = server.address() as { port: number };
          server.close(() => resolve(port));
        });
      });
      const answer = await test(await newSync({ endpointUrl: `http://127.0.0.1:${closed}/behavioral` }));
      expect(answer).toMatchObject({ ok: false, status: null, outcome: 'retry' });
      expect(answer.error).toContain('ECONNREFUSED');
    });

    it('does not reach a private address unless private endpoints are allowed', async () => {
      const sync = await newSync({ endpointUrl: endpoint });
      const strict = await startApp(database.handle, { nats, secretBox: h.secretBox, allowPrivateEndpoints: false });
      try {
        const res = await strict.api('POST', `/v1/syncs/${sync}/test`);
        expect(res.statusCode).toBe(200);
        expect(res.json()).toMatchObject({ ok: false, status: null });
        expect(res.json().error).toContain('private address');
      } finally {
        await strict.close();
      }
    });

    it('404s for an unknown sync', async () => {
      expect((await h.api('POST', `/v1/syncs/${unknownId}/test`)).statusCode).toBe(404);
    });
  });
});
