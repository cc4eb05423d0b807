import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createTopology, decodeJson } from '@inkstream/bus';
import { outcomesIn, type DeadLetter, type OutcomeMessage } from '@inkstream/contracts';
import { MovableInkStandIn, NATS_URL, type ServiceName, Stack, waitFor } from '@inkstream/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.js';

/**
 * Observability of the whole pipeline, with the four services as processes exporting their
 * spans over OTLP/HTTP to a receiver in the test: one trace per event from the ingest request
 * to the HTTP call that delivered it (retries included), the trace id in outcomes, dead letters
 * and log lines, and the Prometheus metrics operations.md lists.
 */
describe('traces, logs and metrics across the services', () => {
  const receiver = new OtlpReceiver();
  const standIn = new MovableInkStandIn();
  let stack: Stack;
  let apiKey: string;
  let syncId: string;
  const requestsByUser = new Map<string, number>();

  beforeAll(async () => {
    const endpoint = await standIn.start();
    const otlp = await receiver.start();
    // Answers by user: a few 503s for the retry case, 422 for the dead letter, 200 otherwise.
    standIn.respondWith((request) => {
      const user = String((request.json as { user_id?: string }).user_id);
      const seen = requestsByUser.get(user) ?? 0;
      requestsByUser.set(user, seen + 1);
      if (user.startsWith('retry-') && seen < 3) return { status: 503 };
      if (user.startsWith('rejected-')) return { status: 422, body: '{"message":"unmapped"}' };
      return { status: 200 };
    });
    stack = new Stack({
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        DELIVERY_RETRY_BASE_MS: '50',
        DELIVERY_RETRY_MAX_MS: '200',
        // The delivery's line per attempt is at debug (info has a summary per sync instead).
        LOG_LEVEL: 'debug',
      },
    });
    await stack.start();

    const project = await stack.admin('POST', '/v1/projects', { name: 'Traced shop' });
    expect(project.status).toBe(201);
    apiKey = project.body.apiKey;
    const sync = await stack.admin('POST', `/v1/projects/${project.body.id}/syncs`, {
      name: 'traced',
      endpointUrl: `${endpoint}/behavioral/trace`,
      authorization: { accessKeyId: 'id', accessSecret: 'secret' },
      eventFilters: [{ eventType: 'Order Completed' }],
      sendUsers: false,
    });
    expect(sync.status).toBe(201);
    syncId = sync.body.id;
    expect((await stack.admin('PATCH', `/v1/syncs/${syncId}`, { enabled: true })).status).toBe(200);
    await waitFor(async () => (await stack.metric('ingest', 'inkstream_config_projects')) >= 1, 'ingest to learn the api key');
    for (const service of ['filter', 'delivery'] as const) {
      await waitFor(async () => (await stack.metric(service, 'inkstream_config_syncs', { active: 'true' })) >= 1, `${service} to learn the sync`);
    }
  });

  afterAll(async () => {
    await stack?.stop();
    await standIn.stop();
    await receiver.stop();
  });

  /** A client's own trace context, as an SDK with OpenTelemetry would send it. */
  function clientContext() {
    const traceId = randomBytes(16).toString('hex');
    const spanId = randomBytes(8).toString('hex');
    return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
  }

  async function send(userId: string, traceparent: string): Promise<void> {
    const res = await fetch(stack.url('ingest', '/2/httpapi'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent },
      body: JSON.stringify({
        api_key: apiKey,
        events: [{ user_id: userId, event_type: 'Order Completed', insert_id: `${userId}-${randomBytes(4).toString('hex')}`, time: Date.now() }],
      }),
    });
    expect(res.status).toBe(200);
  }

  const clientSpans = (traceId: string) =>
    receiver
      .trace(traceId)
      .filter((s) => s.service === 'inkstream-delivery' && s.kind === 'client')
      .sort((a, b) => Number(a.attributes['inkstream.attempt']) - Number(b.attributes['inkstream.attempt']));

  /** Every message of a stream of the stack's namespace, decoded. */
  async function streamMessages<T>(stream: 'outcomes' | 'deadLetters'): Promise<T[]> {
    const topology = createTopology({ namespace: stack.namespace });
    const nc = await connect({ servers: NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      const name = topology.streams[stream].name;
      const { state } = await jsm.streams.info(name);
      const out: T[] = [];
      for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(name, { seq }).catch(() => null);
        if (m) out.push(decodeJson<T>(m.data));
      }
      return out;
    } finally {
      await nc.close();
    }
  }

  const logLines = (service: ServiceName) =>
    stack.logs[service].flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });

  const describeSpan = (s: ReceivedSpan) => `${s.service} ${s.kind}`;

  it('follows an event from the ingest request to the HTTP call that delivered it, in one trace', async () => {
    const client = clientContext();
    await send('trace-user', client.traceparent);

    const delivered = await waitFor(
      () => clientSpans(client.traceId).find((s) => s.attributes['http.response.status_code'] === 200),
      'the delivery’s HTTP client span in the client’s trace',
    );
    // Parent by parent, leaving out the fastify handler spans in between.
    const chain = receiver.ancestry(delivered).filter((s) => s.kind !== 'internal');
    expect(chain.map(describeSpan)).toEqual([
      'inkstream-delivery client',
      'inkstream-delivery consumer',
      'inkstream-filter producer',
      'inkstream-filter consumer',
      'inkstream-ingest producer',
      'inkstream-ingest server',
    ]);
    const [http, deliveryProcess, jobPublish, filterProcess, eventPublish, request] = chain as [ReceivedSpan, ReceivedSpan, ReceivedSpan, ReceivedSpan, ReceivedSpan, ReceivedSpan];
    expect(request.parentSpanId).toBe(client.spanId);
    expect(request.name).toBe('POST /2/httpapi');
    expect(eventPublish).toMatchObject({
      name: `publish ${stack.namespace}.ingest.{partition}`,
      attributes: { 'messaging.system': 'nats', 'messaging.operation.type': 'send' },
    });
    expect(filterProcess).toMatchObject({
      name: `process ${stack.namespace}.ingest.{partition}`,
      attributes: { 'messaging.system': 'nats', 'messaging.operation.type': 'process', 'inkstream.delivery_count': 1 },
    });
    expect(jobPublish.name).toBe(`publish ${stack.namespace}.delivery.{sync}.{partition}`);
    expect(jobPublish.attributes['messaging.destination.name']).toMatch(new RegExp(`^${stack.namespace}\\.delivery\\.${syncId}\\.\\d{2}$`));
    expect(deliveryProcess).toMatchObject({
      name: `process ${stack.namespace}.delivery.{sync}.{partition}`,
      attributes: { 'messaging.consumer.group.name': `${stack.namespace}-delivery-${syncId}`, 'inkstream.delivery.decision': 'ack' },
    });
    expect(http).toMatchObject({
      name: 'POST',
      attributes: { 'http.request.method': 'POST', 'http.response.status_code': 200, 'inkstream.attempt': 1, 'url.path': '/behavioral/trace' },
    });
    // The endpoint got the context too, as any W3C-aware service would.
    const atStandIn = standIn.requests.find((r) => (r.json as { user_id?: string }).user_id === 'trace-user')!;
    expect(atStandIn.headers.traceparent).toBe(`00-${client.traceId}-${http.spanId}-01`);

    // The trace id reaches the outcome record, and the log lines written on the way.
    const outcome = await waitFor(
      async () => (await streamMessages<OutcomeMessage>('outcomes')).flatMap(outcomesIn).find((o) => o.result === 'delivered' && o.traceId === client.traceId),
      'the delivered outcome with its trace id',
    );
    expect(outcome.attempt).toBe(1);
    expect(logLines('ingest').some((l) => l.msg === 'request' && l.trace_id === client.traceId && l.status === 200)).toBe(true);
    const attempt = logLines('delivery').find((l) => l.msg === 'attempt' && l.trace_id === client.traceId);
    expect(attempt).toMatchObject({ status: 200, attempt: 1, span_id: deliveryProcess.spanId });
  });

  it('keeps every attempt of a retried payload in its trace, across quick tries and a nak', async () => {
    const client = clientContext();
    await send('retry-user', client.traceparent);
    const attempts = await waitFor(() => {
      const spans = clientSpans(client.traceId);
      return spans.some((s) => s.attributes['http.response.status_code'] === 200) ? spans : undefined;
    }, 'the successful attempt');
    expect(attempts.map((s) => [s.attributes['inkstream.attempt'], s.attributes['http.response.status_code'], s.status.code])).toEqual([
      [1, 503, 'error'],
      [2, 503, 'error'],
      [3, 503, 'error'],
      [4, 200, 'unset'],
    ]);
    // Three quick tries in the first delivery, the fourth after the message came back.
    const deliveries = receiver.trace(client.traceId).filter((s) => s.service === 'inkstream-delivery' && s.kind === 'consumer');
    expect(deliveries.map((d) => d.attributes['inkstream.delivery.decision']).sort()).toEqual(['ack', 'retry']);
    expect(new Set(deliveries.map((d) => d.parentSpanId)).size).toBe(1);
    expect(deliveries.map((d) => attempts.filter((a) => a.parentSpanId === d.spanId).length).sort()).toEqual([1, 3]);
  });

  it('stores the trace id with a dead letter, whose delivery span is marked failed', async () => {
    const client = clientContext();
    await send('rejected-user', client.traceparent);
    const letter = await waitFor(
      async () => (await streamMessages<DeadLetter>('deadLetters')).find((d) => d.job.userKey === 'rejected-user'),
      'the dead letter',
    );
    expect(letter).toMatchObject({ reason: 'rejected', lastStatus: 422, traceId: client.traceId });
    const delivery = await waitFor(
      () => receiver.trace(client.traceId).find((s) => s.service === 'inkstream-delivery' && s.kind === 'consumer'),
      'the delivery span',
    );
    expect(delivery.status.code).toBe('error');
    expect(delivery.attributes['inkstream.delivery.decision']).toBe('dead-letter');
  });

  it('traces the config API in traces of its own, with its Postgres queries', async () => {
    const projects = await waitFor(
      () => receiver.spans().find((s) => s.service === 'inkstream-config' && s.kind === 'server' && s.name === 'POST /v1/projects'),
      'the config API’s server span',
    );
    const inRequest = receiver.trace(projects.traceId);
    expect(inRequest.some((s) => s.scope === '@opentelemetry/instrumentation-pg' && s.kind === 'client')).toBe(true);
    expect(receiver.rejected).toEqual([]);
  });

  it('moves the counters operations.md lists, and reports consumer lag', async () => {
    const read = async () => ({
      requests: await stack.metric('ingest', 'inkstream_ingest_requests_total', { endpoint: '/2/httpapi', code: '200' }),
      stored: await stack.metric('ingest', 'inkstream_ingest_events_total', { outcome: 'stored' }),
      filtered: await stack.metric('filter', 'inkstream_filter_records_total', { kind: 'event' }),
      queued: await stack.metric('filter', 'inkstream_filter_payloads_total', { sync: syncId, outcome: 'queued' }),
      delivered: await stack.metric('delivery', 'inkstream_delivery_payloads_total', { sync: syncId, result: 'delivered' }),
      attempts2xx: await stack.metric('delivery', 'inkstream_delivery_attempts_total', { sync: syncId, status_class: '2xx' }),
      latencyCount: await stack.metric('delivery', 'inkstream_delivery_ingest_to_delivered_seconds_count', { sync: syncId }),
    });
    const before = await read();
    await send('metrics-user', clientContext().traceparent);
    const after = await waitFor(async () => {
      const now = await read();
      return now.latencyCount > before.latencyCount ? now : undefined;
    }, 'the delivery to be counted');
    expect(after).toEqual({
      requests: before.requests + 1,
      stored: before.stored + 1,
      filtered: before.filtered + 1,
      queued: before.queued + 1,
      delivered: before.delivered + 1,
      attempts2xx: before.attempts2xx + 1,
      latencyCount: before.latencyCount + 1,
    });

    const metricsText = async (service: ServiceName) => (await fetch(stack.url(service, '/metrics'))).text();
    const ns = stack.namespace;
    expect(await metricsText('filter')).toMatch(new RegExp(`^inkstream_consumer_lag_messages\\{stream="${ns.toUpperCase()}_INGEST",consumer="${ns}-filter-p\\d{2}"`, 'm'));
    expect(await metricsText('delivery')).toMatch(
      new RegExp(`^inkstream_consumer_lag_messages\\{stream="${ns.toUpperCase()}_DELIVERY",consumer="${ns}-delivery-${syncId}",service="delivery"\\} \\d+$`, 'm'),
    );
    const delivery = await metricsText('delivery');
    for (const name of ['inkstream_delivery_in_flight_requests', 'inkstream_delivery_concurrency_limit', 'inkstream_delivery_dead_letters_total']) {
      expect(delivery).toContain(`# TYPE ${name} `);
    }
  });
});
