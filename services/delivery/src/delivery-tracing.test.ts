import { randomBytes } from 'node:crypto';
import { SpanStatusCode } from '@opentelemetry/api';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigView, connectBus, createTopology, declareStreams, decodeJson, encodeJson, partitionOf, type Bus, type KV } from '@inkstream/bus';
import {
  DEFAULT_DELIVERY_SETTINGS,
  type DeadLetter,
  type DeliveryJob,
  type DeliveryOutcome,
  type DeliverySettings,
  type SyncSnapshot,
} from '@inkstream/contracts';
import { HttpSender } from '@inkstream/movable-ink';
import { createSecretBox } from '@inkstream/secret-box';
import { createLogger, createMetricsRegistry } from '@inkstream/service-kit';
import { tracePublish } from '@inkstream/telemetry';
import { SpanKind, startTestTelemetry, type ReadableSpan, type TestTelemetry } from '@inkstream/telemetry/testing';
import { MovableInkStandIn, waitFor } from '@inkstream/testing';
import { AttemptStore } from './attempt-store.js';
import { DeliveryService } from './delivery-service.js';
import { createDeliveryMetrics } from './metrics.js';
import { OutcomePublisher } from './outcome-publisher.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const logger = createLogger('delivery-tracing-test', 'silent');
const secrets = createSecretBox(randomBytes(32).toString('hex'));

/**
 * The delivery end of a trace: payloads published with their producer's context (as the filter
 * does) are delivered in spans of that trace, retries included, and a batch request links to
 * each payload's trace. Real NATS, a stand-in endpoint, spans kept in memory.
 */
describe('delivery tracing', () => {
  const topology = createTopology({ namespace: `t_dtr_${randomBytes(4).toString('hex')}` });
  let telemetry: TestTelemetry;
  let bus: Bus;
  let leases: KV;
  let attemptsKv: KV;
  let standIn: MovableInkStandIn;
  let endpoint: string;
  let config: ConfigView;
  let service: DeliveryService;
  let sender: HttpSender;
  let counter = 0;

  beforeAll(async () => {
    telemetry = startTestTelemetry();
    bus = await connectBus({ url: NATS_URL, name: 'delivery-tracing-test', logger });
    await declareStreams(bus.jsm, topology);
    leases = await bus.kvm.create(topology.buckets.deliveryLeases.name, { history: 1, ttl: 10_000 });
    attemptsKv = await bus.kvm.create(topology.buckets.deliveryAttempts.name, { history: 1 });
  });

  beforeEach(async () => {
    standIn = new MovableInkStandIn();
    endpoint = await standIn.start();
    config = new ConfigView(logger);
    config.apply({ kind: 'project', id: 'p1', name: 'p', apiKeyHash: 'h', version: 1, deleted: false, updatedAt: '' });
    sender = new HttpSender({ allowPrivateEndpoints: true, connectionsPerOrigin: 8 });
    service = new DeliveryService({
      config,
      deps: {
        bus,
        topology,
        sender,
        secrets,
        metrics: createDeliveryMetrics(createMetricsRegistry('delivery')),
        logger,
        attempts: new AttemptStore(attemptsKv),
        outcomes: new OutcomePublisher(bus, topology, logger),
        backoff: { baseMs: 100, capMs: 200 },
      },
      logger,
      leases,
      replicaId: `r-${randomBytes(3).toString('hex')}`,
      leaseTtlMs: 10_000,
    });
    await service.start();
  });

  afterEach(async () => {
    await service.stop();
    await sender.close();
    await standIn.stop();
  });

  afterAll(async () => {
    for await (const name of bus.jsm.streams.names()) {
      if (name.startsWith(topology.namespace.toUpperCase()) || name.includes(topology.namespace)) await bus.jsm.streams.delete(name);
    }
    await bus.close();
    await telemetry.stop();
  });

  function newSync(delivery: Partial<DeliverySettings> = {}): SyncSnapshot {
    const sync: SyncSnapshot = {
      kind: 'sync',
      id: `sync-${++counter}-${randomBytes(2).toString('hex')}`,
      projectId: 'p1',
      name: 's',
      enabled: true,
      endpointUrl: `${endpoint}/behavioral/abc`,
      authorizationSealed: secrets.seal('Basic Z29vZDpjcmVkcw=='),
      sendEvents: true,
      eventFilters: [{ eventType: '*' }],
      eventProperties: [],
      sendUsers: false,
      userProperties: [],
      delivery: { ...DEFAULT_DELIVERY_SETTINGS, ...delivery },
      version: counter,
      deleted: false,
      updatedAt: '',
    };
    config.apply(sync);
    return sync;
  }

  /** Publishes jobs the way the filter does: each in a PRODUCER span whose context rides along. */
  async function enqueue(sync: SyncSnapshot, count: number): Promise<Array<{ job: DeliveryJob; producer: ReadableSpan }>> {
    const out: Array<{ job: DeliveryJob; producer: ReadableSpan }> = [];
    for (let i = 0; i < count; i++) {
      const userKey = `user-${i}`;
      const messageId = `${sync.id}-m${i}`;
      const job: DeliveryJob = {
        v: 1,
        syncId: sync.id,
        projectId: 'p1',
        payloadType: 'track',
        messageId,
        userKey,
        receivedAt: Date.now(),
        payload: { type: 'track', event: 'E', user_id: userKey, timestamp: Date.now(), message_id: messageId, properties: { seq: i } },
      };
      const subject = topology.subjects.delivery(sync.id, partitionOf(userKey));
      await tracePublish({ subject, template: topology.subjectTemplates.delivery, messageId }, (headers) =>
        bus.js.publish(subject, encodeJson(job), { msgID: messageId, ...(headers ? { headers } : {}) }),
      );
      const producer = telemetry.spans().find((s) => s.kind === SpanKind.PRODUCER && s.attributes['messaging.message.id'] === messageId)!;
      out.push({ job, producer });
    }
    return out;
  }

  async function read<T>(stream: string, subject: string): Promise<T[]> {
    const info = await bus.jsm.streams.info(stream);
    const out: T[] = [];
    for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
      const m = await bus.jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (m && m.subject === subject) out.push(decodeJson<T>(m.data));
    }
    return out;
  }

  const clientSpans = (traceId: string) =>
    telemetry.trace(traceId).filter((s) => s.kind === SpanKind.CLIENT).sort((a, b) => Number(a.attributes['inkstream.attempt']) - Number(b.attributes['inkstream.attempt']));

  it('delivers a payload in its trace, every attempt a client span, retries after a nak included', async () => {
    const sync = newSync();
    // Three quick tries fail, the message is nak'ed, the redelivery succeeds.
    standIn.respondWith((_r, i) => (i < 3 ? { status: 503 } : { status: 200 }));
    const [{ producer }] = (await enqueue(sync, 1)) as [{ job: DeliveryJob; producer: ReadableSpan }];
    const traceId = producer.spanContext().traceId;

    const clients = await waitFor(() => {
      const c = clientSpans(traceId);
      return c.length >= 4 && c[3]!.attributes['http.response.status_code'] === 200 ? c : undefined;
    }, 'four client spans in the payload’s trace');
    expect(clients.map((c) => [c.attributes['inkstream.attempt'], c.attributes['http.response.status_code']])).toEqual([
      [1, 503],
      [2, 503],
      [3, 503],
      [4, 200],
    ]);
    const deliveries = await waitFor(() => {
      const d = telemetry.trace(traceId).filter((s) => s.kind === SpanKind.CONSUMER);
      return d.length >= 2 ? d : undefined;
    }, 'two delivery spans');
    for (const delivery of deliveries) {
      expect(delivery.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
      expect(delivery.name).toBe(`process ${topology.subjectTemplates.delivery}`);
      expect(delivery.attributes).toMatchObject({ 'messaging.system': 'nats', 'messaging.consumer.group.name': topology.consumers.delivery(sync.id).durable_name });
    }
    const byDelivery = (d: ReadableSpan) => clients.filter((c) => c.parentSpanContext?.spanId === d.spanContext().spanId).length;
    expect(deliveries.map(byDelivery).sort()).toEqual([1, 3]);
    expect(deliveries.map((d) => d.attributes['inkstream.delivery.decision']).sort()).toEqual(['ack', 'retry']);

    const outcomes = await waitFor(async () => {
      const o = await read<DeliveryOutcome>(topology.streams.outcomes.name, topology.subjects.outcome(sync.id));
      return o.length >= 4 ? o : undefined;
    }, 'four outcomes');
    expect(outcomes.every((o) => o.traceId === traceId)).toBe(true);
  });

  it('sends a batch in one span linked to each payload’s trace', async () => {
    const sync = newSync({ batchSize: 3 });
    const enqueued = await enqueue(sync, 3);
    const batch = await waitFor(
      () => telemetry.spans().find((s) => s.kind === SpanKind.CONSUMER && s.attributes['messaging.consumer.group.name'] === topology.consumers.delivery(sync.id).durable_name),
      'the batch span',
    );
    expect(batch.parentSpanContext).toBeUndefined();
    expect(batch.attributes['messaging.batch.message_count']).toBe(3);
    expect(batch.links.map((l) => l.context.spanId).sort()).toEqual(enqueued.map((e) => e.producer.spanContext().spanId).sort());
    const client = await waitFor(() => clientSpans(batch.spanContext().traceId)[0], 'the batch request span');
    expect(client.parentSpanContext?.spanId).toBe(batch.spanContext().spanId);
    expect(client.attributes).toMatchObject({ 'http.response.status_code': 200, 'inkstream.attempt': 1 });
    expect(JSON.parse(standIn.requests[0]!.body).events).toHaveLength(3);
  });

  it('keeps the trace id with a dead letter, and marks its delivery span as failed', async () => {
    const sync = newSync();
    standIn.respondWith(() => ({ status: 422, body: '{"message":"unmapped"}' }));
    const [{ producer }] = (await enqueue(sync, 1)) as [{ job: DeliveryJob; producer: ReadableSpan }];
    const traceId = producer.spanContext().traceId;
    const [letter] = await waitFor(async () => {
      const d = await read<DeadLetter>(topology.streams.deadLetters.name, topology.subjects.deadLetter(sync.id));
      return d.length > 0 ? d : undefined;
    }, 'the dead letter');
    expect(letter!.traceId).toBe(traceId);
    const delivery = await waitFor(() => telemetry.trace(traceId).find((s) => s.kind === SpanKind.CONSUMER), 'the delivery span');
    expect(delivery.status.code).toBe(SpanStatusCode.ERROR);
    expect(delivery.attributes['inkstream.delivery.decision']).toBe('dead-letter');
    expect(clientSpans(traceId).map((c) => c.attributes['http.response.status_code'])).toEqual([422]);
  });
});
