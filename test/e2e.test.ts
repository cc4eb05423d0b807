import { createInstance, Identify } from '@amplitude/analytics-node';
import { messageIdFor } from '@inkstream/movable-ink';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MovableInkStandIn, Stack, waitFor } from '@inkstream/testing';

/**
 * One event all the way: the real Amplitude SDK → ingest → filter → delivery → a stand-in
 * Movable Ink endpoint, through the real NATS and Postgres, with the four services as processes.
 */
describe('end to end: Amplitude SDK → Movable Ink', () => {
  const stack = new Stack();
  const standIn = new MovableInkStandIn();
  let apiKey: string;
  let syncId: string;
  const now = Date.now();

  beforeAll(async () => {
    const endpoint = await standIn.start();
    await stack.start();

    const project = await stack.admin('POST', '/v1/projects', { name: 'Shop' });
    expect(project.status).toBe(201);
    apiKey = project.body.apiKey;

    const sync = await stack.admin('POST', `/v1/projects/${project.body.id}/syncs`, {
      name: 'Movable Ink – prod',
      endpointUrl: `${endpoint}/behavioral/abc123`,
      authorization: { accessKeyId: 'movable_ink1', accessSecret: 'movable_ink2' },
      eventFilters: [
        {
          eventType: 'Product Viewed',
          where: [{ propertyType: 'event', property: 'price', operator: 'greater', values: [10] }],
        },
        { eventType: 'Order Completed' },
      ],
      eventProperties: ['product_id', 'price', 'categories'],
      sendUsers: true,
      userProperties: ['email', 'plan'],
    });
    expect(sync.status).toBe(201);
    expect(sync.body.authorization).not.toContain('bW92YWJsZV9pbmsxOm1vdmFibGVfaW5rMg');
    syncId = sync.body.id;
    const enabled = await stack.admin('PATCH', `/v1/syncs/${syncId}`, { enabled: true });
    expect(enabled.status).toBe(200);

    // Configuration reaches the other services through NATS, not through Postgres.
    await waitFor(async () => (await stack.metric('ingest', 'inkstream_config_projects')) >= 1, 'ingest to learn the api key');
    for (const service of ['filter', 'delivery'] as const) {
      await waitFor(
        async () => (await stack.metric(service, 'inkstream_config_syncs', { active: 'true' })) >= 1,
        `${service} to learn the sync`,
      );
    }
  });

  afterAll(async () => {
    await stack.stop();
    await standIn.stop();
  });

  it('delivers the selected events and the user, exactly as pipeline.md says', async () => {
    const amplitude = createInstance();
    await amplitude.init(apiKey, {
      serverUrl: stack.url('ingest', '/2/httpapi'),
      flushIntervalMillis: 50,
      logLevel: 0,
    }).promise;

    const user = { user_id: 'user-12345', device_id: 'C8F9E604-F01A-4BD9' };
    const identify = new Identify().set('email', 'a@example.com').set('plan', 'pro').set('secret_score', 7);
    const results = await Promise.all([
      amplitude.identify(identify, { ...user, insert_id: 'ins-identify', time: now - 4 }).promise,
      amplitude.track(
        'Product Viewed',
        { product_id: '622c6f5d', price: 49.99, categories: ['shoes', 'sale'], internal_note: 'not selected' },
        { ...user, insert_id: 'ins-viewed', time: now - 3 },
      ).promise,
      amplitude.track('Product Viewed', { product_id: 'cheap', price: 5 }, { ...user, insert_id: 'ins-cheap', time: now - 2 }).promise,
      amplitude.track('Newsletter Opened', { issue: 7 }, { ...user, insert_id: 'ins-other', time: now - 1 }).promise,
      amplitude.track('Order Completed', { order_id: 'o-1', revenue: 50 }, { ...user, insert_id: 'ins-order', time: now }).promise,
    ]);
    for (const result of results) expect(result.code).toBe(200);

    await waitFor(() => standIn.payloads().length >= 3, 'three payloads at the stand-in', 60_000);
    // Same user, one lane: everything before the order has been processed by now.
    expect(standIn.payloads()).toEqual([
      {
        type: 'identify',
        user_id: 'user-12345',
        anonymous_id: 'C8F9E604-F01A-4BD9',
        timestamp: now - 4,
        message_id: messageIdFor(syncId, 'identify', 'i:ins-identify'),
        traits: { email: 'a@example.com', plan: 'pro' },
      },
      {
        type: 'track',
        event: 'Product Viewed',
        user_id: 'user-12345',
        anonymous_id: 'C8F9E604-F01A-4BD9',
        timestamp: now - 3,
        message_id: messageIdFor(syncId, 'track', 'i:ins-viewed'),
        properties: { product_id: '622c6f5d', price: 49.99, categories: ['shoes', 'sale'] },
        user_properties: { email: 'a@example.com', plan: 'pro' },
      },
      {
        type: 'track',
        event: 'Order Completed',
        user_id: 'user-12345',
        anonymous_id: 'C8F9E604-F01A-4BD9',
        timestamp: now,
        message_id: messageIdFor(syncId, 'track', 'i:ins-order'),
        user_properties: { email: 'a@example.com', plan: 'pro' },
      },
    ]);
    for (const request of standIn.requests) {
      expect(request.method).toBe('POST');
      expect(request.path).toBe('/behavioral/abc123');
      expect(request.headers.authorization).toBe('Basic bW92YWJsZV9pbmsxOm1vdmFibGVfaW5rMg==');
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['user-agent']).toMatch(/^inkstream\/\d+\.\d+\.\d+/);
    }
  });

  it('accepts a plain HTTP V2 request as curl would send it', async () => {
    const before = standIn.payloads().length;
    const res = await fetch(stack.url('ingest', '/2/httpapi'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        api_key: apiKey,
        events: [{ device_id: 'device-only-42', event_type: 'Order Completed', time: now, insert_id: 'curl-1' }],
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { code: number; events_ingested: number; payload_size_bytes: number; server_upload_time: number };
    expect(body).toMatchObject({ code: 200, events_ingested: 1 });
    expect(body.payload_size_bytes).toBeGreaterThan(0);
    expect(body.server_upload_time).toBeGreaterThanOrEqual(now);

    // A new (anonymous) user: Send Users introduces it with an identify before its track.
    await waitFor(() => standIn.payloads().length >= before + 2, 'the curl event at the stand-in');
    expect(standIn.payloads().slice(before)).toEqual([
      { type: 'identify', anonymous_id: 'device-only-42', timestamp: now, message_id: messageIdFor(syncId, 'identify', 'i:curl-1') },
      {
        type: 'track',
        event: 'Order Completed',
        anonymous_id: 'device-only-42',
        timestamp: now,
        message_id: messageIdFor(syncId, 'track', 'i:curl-1'),
      },
    ]);
  });

  it('honours a key rotation within seconds: the old key stops working, the new one works', async () => {
    const projects = await stack.admin<Array<{ id: string; apiKey: string }>>('GET', '/v1/projects');
    const project = projects.body.find((p) => p.apiKey === apiKey)!;
    const rotated = await stack.admin<{ apiKey: string }>('POST', `/v1/projects/${project.id}/rotate-key`);
    expect(rotated.status).toBe(200);
    const newKey = rotated.body.apiKey;
    expect(newKey).not.toBe(apiKey);
    const post = (key: string) =>
      fetch(stack.url('ingest', '/2/httpapi'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ api_key: key, events: [{ user_id: 'user-12345', event_type: 'Rotation', insert_id: `rot-${key.slice(0, 6)}` }] }),
      });
    await waitFor(async () => (await post(apiKey)).status === 400, 'the old key to be refused', 10_000, 100);
    expect((await post(newKey)).status).toBe(200);
    apiKey = newKey;
  });

  it('refuses an unknown api key the way Amplitude does', async () => {
    const res = await fetch(stack.url('ingest', '/2/httpapi'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api_key: 'nope-unknown-key', events: [{ user_id: 'user-12345', event_type: 'x' }] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: 400, error: 'Invalid API key: nope…' });
  });
});
