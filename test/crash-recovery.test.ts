import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MovableInkStandIn, Stack, waitFor } from '@inkstream/testing';
import { sendUntilAccepted } from './support/send-until-accepted.js';

/**
 * Reliability target (spec/operations.md): every service killed with SIGKILL and restarted
 * during a stream — every event answered 200 is delivered, duplicates only with the same
 * message_id, and each user's order held with preserveUserOrder on.
 */
describe('crash recovery: SIGKILL each service mid-stream', () => {
  const stack = new Stack({ env: { DELIVERY_RETRY_BASE_MS: '300', DELIVERY_RETRY_MAX_MS: '2000', LOG_LEVEL: 'warn' } });
  const standIn = new MovableInkStandIn();
  let apiKey: string;
  const USERS = 12;
  const EVENTS = 360;

  beforeAll(async () => {
    const endpoint = await standIn.start();
    standIn.respondWith(() => ({ status: 200, delayMs: 5 }));
    await stack.start();
    ({ apiKey } = await stack.createEnabledSync('Crash', {
      name: 'mi',
      endpointUrl: `${endpoint}/behavioral/crash`,
      authorization: 'Basic Y3Jhc2g6dGVzdA==',
      eventFilters: [{ eventType: '*' }],
      eventProperties: ['seq'],
      delivery: { maxConcurrency: 4, preserveUserOrder: true },
    }));
  });

  afterAll(async () => {
    await stack.stop();
    await standIn.stop();
  });

  const deliveredIds = () => new Set(standIn.payloads().map((p) => p.message_id as string));

  it('delivers everything once the services are back, in order per user', async () => {
    const events = Array.from({ length: EVENTS }, (_, i) => ({
      user_id: `crash-user-${i % USERS}`,
      event_type: 'Step',
      insert_id: `crash-${i}`,
      time: Date.now(),
      event_properties: { seq: i },
    }));
    const chunks: object[][] = [];
    for (let i = 0; i < events.length; i += 20) chunks.push(events.slice(i, i + 20));

    const sending = (async () => {
      for (const [n, chunk] of chunks.entries()) {
        if (n === 6) await stack.restartService('ingest', 'SIGKILL');
        await sendUntilAccepted(stack.url('ingest', '/batch'), apiKey, chunk);
      }
    })();

    await waitFor(() => deliveredIds().size >= 60, 'the stream to be flowing', 120_000);
    await stack.restartService('filter', 'SIGKILL');
    await waitFor(() => deliveredIds().size >= 160, 'delivery after the filter restart', 180_000);
    await stack.restartService('delivery', 'SIGKILL');
    await sending;
    await waitFor(() => deliveredIds().size >= EVENTS, `all ${EVENTS} payloads at the stand-in`, 240_000);

    const payloads = standIn.payloads();
    expect(deliveredIds().size).toBe(EVENTS);
    // Duplicates are possible after a crash, but only of the same payload (same message_id).
    const duplicates = payloads.length - EVENTS;
    expect(duplicates).toBeLessThanOrEqual(EVENTS / 4);
    for (let u = 0; u < USERS; u++) {
      const seqs = payloads
        .filter((p) => p.user_id === `crash-user-${u}`)
        .map((p) => (p.properties as { seq: number }).seq);
      const firstSeen = seqs.filter((s, i) => seqs.indexOf(s) === i);
      expect(firstSeen).toEqual([...firstSeen].sort((a, b) => a - b));
    }
  });
});
