import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MovableInkStandIn, PrivateNats, Stack, waitFor } from '@inkstream/testing';
import { sendUntilAccepted } from './support/send-until-accepted.js';

/** Reliability target: nats-server restarted during a stream — every event answered 200 is delivered. */
describe('nats-server crash and restart during a stream', () => {
  const nats = new PrivateNats();
  let stack: Stack;
  const standIn = new MovableInkStandIn();
  let apiKey: string;
  const EVENTS = 200;

  beforeAll(async () => {
    await nats.start();
    stack = new Stack({ env: { NATS_URL: nats.url, DELIVERY_RETRY_BASE_MS: '300', DELIVERY_RETRY_MAX_MS: '2000', LOG_LEVEL: 'warn' } });
    const endpoint = await standIn.start();
    await stack.start();
    ({ apiKey } = await stack.createEnabledSync('Restart', {
      name: 'mi',
      endpointUrl: `${endpoint}/behavioral/restart`,
      authorization: 'Basic cmVzdGFydDp0ZXN0',
      eventFilters: [{ eventType: '*' }],
      eventProperties: ['seq'],
    }));
  });

  afterAll(async () => {
    await stack?.stop();
    await standIn.stop();
    await nats.stop();
  });

  it('delivers every accepted event after NATS comes back', async () => {
    const events = Array.from({ length: EVENTS }, (_, i) => ({
      user_id: `restart-user-${i % 8}`,
      event_type: 'Step',
      insert_id: `restart-${i}`,
      time: Date.now(),
      event_properties: { seq: i },
    }));
    for (let i = 0; i < 100; i += 20) await sendUntilAccepted(stack.url('ingest', '/batch'), apiKey, events.slice(i, i + 20));
    await waitFor(() => standIn.payloads().length >= 20, 'the stream to flow', 120_000);

    await nats.kill('SIGKILL');
    // While NATS is down ingest cannot store anything: it answers 503 and clients retry.
    const refused = await fetch(stack.url('ingest', '/batch'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api_key: apiKey, events: events.slice(100, 101) }),
    });
    expect(refused.status).toBe(503);
    await nats.start();

    for (let i = 100; i < EVENTS; i += 20) await sendUntilAccepted(stack.url('ingest', '/batch'), apiKey, events.slice(i, i + 20));
    await waitFor(() => new Set(standIn.payloads().map((p) => p.message_id)).size >= EVENTS, `all ${EVENTS} delivered`, 240_000);
    expect(new Set(standIn.payloads().map((p) => p.message_id)).size).toBe(EVENTS);
  });
});
