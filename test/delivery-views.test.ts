import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MovableInkStandIn, Stack, waitFor } from '@inkstream/testing';
import { sendUntilAccepted } from './support/send-until-accepted.js';

interface Metrics {
  eventsDelivered: number;
  eventsNotDelivered: number;
  successOnFirstAttempt: number;
  successAfterRetry: number;
  eventsDiscarded: number;
  pendingRetries: number;
}
interface ErrorSample {
  status: number;
  error: string;
  responseBody: string;
  attempt: number;
  traceId?: string;
}
interface DeadLetterItem {
  id: string;
  messageId: string;
  reason: string;
  lastStatus: number;
  traceId?: string;
}

/**
 * The delivery views against what the stand-in saw: metrics and error samples projected from the
 * outcome events, a payload Movable Ink refuses ending in the dead letters with its trace id, a
 * 401 period making the sync `failing`, and a redrive delivering the dead letter once the
 * endpoint accepts it, with the same message_id.
 */
describe('delivery views: metrics, errors, status, dead letters and redrive', () => {
  const stack = new Stack({ env: { DELIVERY_RETRY_BASE_MS: '300', DELIVERY_RETRY_MAX_MS: '1000', LOG_LEVEL: 'warn' } });
  const standIn = new MovableInkStandIn();
  let apiKey: string;
  let syncId: string;
  let mode: 'ok' | 'reject-one' | 'unauthorized' = 'ok';

  beforeAll(async () => {
    const endpoint = await standIn.start();
    standIn.respondWith((r, i) => {
      const p = r.json as { event?: string };
      if (mode === 'unauthorized') return { status: 401, body: '{"message":"bad credentials"}' };
      if (mode === 'reject-one' && p.event === 'Unmapped') return { status: 422, body: '{"message":"no mapping for Unmapped"}' };
      // A transient 503 on the very first request: one payload succeeds after a retry.
      if (i === 0) return { status: 503, body: '{"message":"busy"}' };
      return { status: 200 };
    });
    await stack.start();
    ({ apiKey, syncId } = await stack.createEnabledSync('Views', {
      name: 'mi',
      endpointUrl: `${endpoint}/behavioral/views`,
      authorization: 'Basic dmlld3M6dGVzdA==',
      eventFilters: [{ eventType: '*' }],
    }));
  });

  afterAll(async () => {
    await stack.stop();
    await standIn.stop();
  });

  const metrics = async () => (await stack.admin<Metrics>('GET', `/v1/syncs/${syncId}/metrics?period=ONE_HOUR`)).body;

  it('counts what the stand-in accepted, first try or after a retry', async () => {
    const events = Array.from({ length: 10 }, (_, i) => ({ user_id: `views-user-${i}`, event_type: 'Step', insert_id: `views-${i}` }));
    await sendUntilAccepted(stack.url('ingest', '/2/httpapi'), apiKey, events);
    await waitFor(() => standIn.payloads().length >= 10, 'ten payloads accepted', 60_000);
    const m = await waitFor(async () => {
      const value = await metrics();
      return value.eventsDelivered >= 10 ? value : undefined;
    }, 'the metrics to count ten deliveries', 60_000, 300);
    expect(m.eventsDelivered).toBe(standIn.payloads().length);
    expect(m.successAfterRetry).toBe(1);
    expect(m.successOnFirstAttempt).toBe(9);
    expect(m.eventsNotDelivered).toBe(0);
    const errors = (await stack.admin<ErrorSample[] | { items: ErrorSample[] }>('GET', `/v1/syncs/${syncId}/errors?limit=10`)).body;
    const samples = Array.isArray(errors) ? errors : errors.items;
    expect(samples).toHaveLength(1);
    expect(samples[0]).toMatchObject({ status: 503, attempt: 1 });
    expect(samples[0]!.responseBody).toContain('busy');
    expect(samples[0]!.traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('dead-letters a refused payload and redrives it to a delivery with the same message_id', async () => {
    mode = 'reject-one';
    // A client with a trace of its own: the services run without an exporter (nothing recorded,
    // no context entered), yet the event's trace id goes from the request to the dead letter.
    const clientTraceId = '8af92f3577b34da6a3ce929d0e0e4731';
    const traceparent = `00-${clientTraceId}-04f067aa0ba902bb-01`;
    await sendUntilAccepted(stack.url('ingest', '/2/httpapi'), apiKey, [{ user_id: 'views-user-x', event_type: 'Unmapped', insert_id: 'views-unmapped' }], 200, { traceparent });
    const letters = await waitFor(async () => {
      const page = (await stack.admin<{ items: DeadLetterItem[] }>('GET', `/v1/syncs/${syncId}/dead-letters?limit=10`)).body;
      return page.items.length > 0 ? page.items : undefined;
    }, 'a dead letter', 60_000, 300);
    expect(letters[0]).toMatchObject({ reason: 'rejected', lastStatus: 422 });
    expect(letters[0]!.traceId).toBe(clientTraceId);
    await waitFor(async () => (await metrics()).eventsNotDelivered >= 1, 'the rejection in the metrics', 60_000, 300);

    mode = 'ok';
    const redrive = await stack.admin('POST', `/v1/syncs/${syncId}/dead-letters/redrive`, { ids: [letters[0]!.id] });
    expect(redrive.status).toBe(200);
    expect(redrive.body).toMatchObject({ redriven: 1 });
    await waitFor(() => standIn.payloads().some((p) => p.message_id === letters[0]!.messageId), 'the redriven payload delivered', 60_000);
    const after = (await stack.admin<{ items: DeadLetterItem[] }>('GET', `/v1/syncs/${syncId}/dead-letters?limit=10`)).body;
    expect(after.items).toEqual([]);
  });

  it('shows failing while credentials are refused, healthy again once accepted', async () => {
    mode = 'unauthorized';
    await sendUntilAccepted(stack.url('ingest', '/2/httpapi'), apiKey, [{ user_id: 'views-user-y', event_type: 'Step', insert_id: 'views-401' }]);
    const failing = await waitFor(async () => {
      const sync = (await stack.admin<{ status: { state: string; lastError: unknown } }>('GET', `/v1/syncs/${syncId}`)).body;
      return sync.status.state === 'failing' ? sync : undefined;
    }, 'the sync to be failing', 60_000, 300);
    expect(JSON.stringify(failing.status.lastError)).toContain('401');
    expect((await metrics()).pendingRetries).toBeGreaterThanOrEqual(1);

    mode = 'ok';
    // Changing the credentials makes the sync try again at once.
    await stack.admin('PATCH', `/v1/syncs/${syncId}`, { authorization: 'Basic dmlld3M6Zml4ZWQ=' });
    await waitFor(() => standIn.payloads().some((p) => (p as { user_id?: string }).user_id === 'views-user-y'), 'delivery after the fix', 90_000);
    await waitFor(async () => {
      const sync = (await stack.admin<{ status: { state: string } }>('GET', `/v1/syncs/${syncId}`)).body;
      return sync.status.state === 'healthy';
    }, 'the sync to be healthy again', 60_000, 300);
    await waitFor(async () => (await metrics()).pendingRetries === 0, 'no pending retries', 60_000, 300);
  });
});
