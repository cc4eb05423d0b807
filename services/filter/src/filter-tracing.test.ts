import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigView, carrierFrom, connectBus, createTopology, declareStreams, decodeJson, encodeJson, partitionOf, type Bus, type Topology } from '@inkstream/bus';
import { DEFAULT_DELIVERY_SETTINGS, outcomesIn, itemsOfDeliveryMessage, type IngestedRecord, type OutcomeMessage } from '@inkstream/contracts';
import { createLogger, createMetricsRegistry } from '@inkstream/service-kit';
import { tracePublish } from '@inkstream/telemetry';
import { SpanKind, startTestTelemetry, type TestTelemetry } from '@inkstream/telemetry/testing';
import { waitFor } from '@inkstream/testing';
import { FilterWorker } from './filter-worker.js';
import { createFilterMetrics } from './metrics.js';
import { ProfileStore } from './profile-store.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const logger = createLogger('filter-tracing-test', 'silent');

/** A filter worker on a namespace of its own, with one sync selecting every event of project p1. */
async function startFilter(topology: Topology, name: string): Promise<{ bus: Bus; worker: FilterWorker }> {
  const bus = await connectBus({ url: NATS_URL, name: `filter-tracing-test-${name}`, logger });
  await declareStreams(bus.jsm, topology);
  const config = new ConfigView(logger);
  config.apply({ kind: 'project', id: 'p1', name: 'p', apiKeyHash: 'h', version: 1, deleted: false, updatedAt: '' });
  config.apply({
    kind: 'sync',
    id: 'sync-t',
    projectId: 'p1',
    name: 's',
    enabled: true,
    endpointUrl: 'https://example.com',
    authorizationSealed: 'v1.x',
    sendEvents: true,
    eventFilters: [{ eventType: '*' }],
    eventProperties: [],
    sendUsers: false,
    userProperties: [],
    delivery: DEFAULT_DELIVERY_SETTINGS,
    version: 1,
    deleted: false,
    updatedAt: '',
  });
  const worker = new FilterWorker({
    bus,
    topology,
    config,
    profiles: new ProfileStore(await bus.kvm.create(topology.buckets.profiles.name, { history: 1 }), { maxEntries: 100, maxBytes: 1024 * 1024 }),
    metrics: createFilterMetrics(createMetricsRegistry('filter')),
    logger,
    maxInFlight: 16,
    leases: await bus.kvm.create(topology.buckets.filterLeases.name, { history: 1, ttl: topology.buckets.filterLeases.ttl }),
    replicaId: name,
  });
  await worker.start();
  return { bus, worker };
}

async function stopFilter(topology: Topology, bus: Bus, worker: FilterWorker): Promise<void> {
  await worker.stop();
  for await (const name of bus.jsm.streams.names()) {
    if (name.startsWith(topology.namespace.toUpperCase()) || name.includes(topology.namespace)) await bus.jsm.streams.delete(name);
  }
  await bus.close();
}

/** Every message of a stream, with its headers as a trace carrier. */
async function streamMessages(bus: Bus, stream: string): Promise<Array<{ headers: Record<string, string>; data: Uint8Array }>> {
  const info = await bus.jsm.streams.info(stream);
  const out: Array<{ headers: Record<string, string>; data: Uint8Array }> = [];
  for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
    const m = await bus.jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m) out.push({ headers: carrierFrom(m.header), data: m.data });
  }
  return out;
}

/**
 * The filter's part of a trace: each ingested event is processed in a span parented on the
 * context ingest published it with, and each delivery job it publishes carries the trace on.
 */
describe('filter tracing', () => {
  const topology = createTopology({ namespace: `t_ftr_${randomBytes(4).toString('hex')}` });
  let telemetry: TestTelemetry;
  let bus: Bus;
  let worker: FilterWorker;

  beforeAll(async () => {
    telemetry = startTestTelemetry();
    ({ bus, worker } = await startFilter(topology, 'tracing'));
  });

  afterAll(async () => {
    await stopFilter(topology, bus, worker);
    await telemetry.stop();
  });

  /** Publishes an event as ingest does, in a PRODUCER span; answers that span's trace and span id. */
  async function ingest(event: IngestedRecord['event'], key: string) {
    const userKey = event.user_id!;
    const record: IngestedRecord = { v: 1, kind: 'event', projectId: 'p1', receivedAt: Date.now(), eventKey: key, userKey, event };
    const subject = topology.subjects.ingest(partitionOf(userKey));
    await tracePublish({ subject, template: topology.subjectTemplates.ingest, messageId: key }, (headers) =>
      bus.js.publish(subject, encodeJson(record), { msgID: key, ...(headers ? { headers } : {}) }),
    );
    return telemetry.spans().find((s) => s.kind === SpanKind.PRODUCER && s.attributes['messaging.message.id'] === key)!.spanContext();
  }

  it('processes an event in its ingest trace and hands its publish span on in each payload head of its delivery segment', async () => {
    const ingested = await ingest({ event_type: 'Viewed', user_id: 'traced-user', time: Date.now() }, 'traced-1');
    const segment = await waitFor(
      async () => (await streamMessages(bus, topology.streams.delivery.name)).find((m) => itemsOfDeliveryMessage(new TextDecoder().decode(m.data)).some((i) => i.userKey === 'traced-user')),
      'the delivery segment',
    );
    const [item] = itemsOfDeliveryMessage(new TextDecoder().decode(segment.data));

    const spans = telemetry.trace(ingested.traceId);
    const processing = spans.find((s) => s.kind === SpanKind.CONSUMER)!;
    expect(processing.parentSpanContext?.spanId).toBe(ingested.spanId);
    expect(processing.name).toBe(`process ${topology.subjectTemplates.ingest}`);
    expect(processing.attributes).toMatchObject({
      'messaging.destination.name': topology.subjects.ingest(partitionOf('traced-user')),
      'messaging.consumer.group.name': topology.consumers.filter(partitionOf('traced-user')).durable_name,
      'inkstream.delivery_count': 1,
    });
    const handedOn = await waitFor(
      () => telemetry.trace(ingested.traceId).find((s) => s.kind === SpanKind.PRODUCER && s.parentSpanContext?.spanId === processing.spanContext().spanId),
      'the delivery segment’s publish span',
    );
    expect(handedOn.name).toBe(`publish ${topology.subjectTemplates.delivery}`);
    expect(handedOn.attributes).toMatchObject({ 'messaging.batch.message_count': 1, 'messaging.message.id': expect.stringMatching(/^s2:/) });
    // One publish span for the segment; the segment's message and each payload head carry it (so delivery continues under it).
    expect(telemetry.trace(ingested.traceId).filter((s) => s.kind === SpanKind.PRODUCER && s.name === handedOn.name)).toHaveLength(1);
    expect(segment.headers.traceparent).toBe(`00-${ingested.traceId}-${handedOn.spanContext().spanId}-01`);
    expect(item!.traceparent).toBe(`00-${ingested.traceId}-${handedOn.spanContext().spanId}-01`);
  });

  it('records the trace id with a discarded payload’s outcome', async () => {
    const ingested = await ingest({ event_type: 'Old', user_id: 'old-traced-user', time: Date.now() - 40 * 86_400_000 }, 'old-1');
    const outcome = await waitFor(
      async () => (await streamMessages(bus, topology.streams.outcomes.name)).flatMap((m) => outcomesIn(decodeJson<OutcomeMessage>(m.data))).find((o) => o.result === 'discarded'),
      'the discarded outcome',
    );
    expect(outcome.traceId).toBe(ingested.traceId);
  });
});

/**
 * Without an exporter nothing is recorded and no context is entered (context-mode.ts): the
 * trace ids still go on, from the ingest message to the payload heads and the outcomes.
 */
describe('filter tracing without an exporter', () => {
  const topology = createTopology({ namespace: `t_ftp_${randomBytes(4).toString('hex')}` });
  let telemetry: TestTelemetry;
  let bus: Bus;
  let worker: FilterWorker;

  beforeAll(async () => {
    telemetry = startTestTelemetry({ sampling: 'propagate-only' });
    ({ bus, worker } = await startFilter(topology, 'propagating'));
  });

  afterAll(async () => {
    await stopFilter(topology, bus, worker);
    await telemetry.stop();
  });

  it('carries the ingest message’s trace to the payload heads and the discard outcomes, without entering a context', async () => {
    /** Publishes an event as ingest does without an exporter (a span not recorded); answers its trace id. */
    const publish = async (event: IngestedRecord['event'], key: string) => {
      const userKey = event.user_id!;
      const record: IngestedRecord = { v: 1, kind: 'event', projectId: 'p1', receivedAt: Date.now(), eventKey: key, userKey, event };
      const subject = topology.subjects.ingest(partitionOf(userKey));
      let traceparent: string | undefined;
      await tracePublish({ subject, template: topology.subjectTemplates.ingest, messageId: key }, (headers) => {
        traceparent = headers?.get('traceparent');
        return bus.js.publish(subject, encodeJson(record), { msgID: key, ...(headers ? { headers } : {}) });
      });
      expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      return traceparent!.slice(3, 35);
    };
    const traceId = await publish({ event_type: 'Viewed', user_id: 'propagated-user', time: Date.now() }, 'propagated-1');
    const oldTraceId = await publish({ event_type: 'Old', user_id: 'propagated-old-user', time: Date.now() - 40 * 86_400_000 }, 'propagated-old-1');
    const segment = await waitFor(
      async () => (await streamMessages(bus, topology.streams.delivery.name)).find((m) => itemsOfDeliveryMessage(new TextDecoder().decode(m.data)).some((i) => i.userKey === 'propagated-user')),
      'the delivery segment',
    );
    const [item] = itemsOfDeliveryMessage(new TextDecoder().decode(segment.data));
    expect(item!.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
    expect(segment.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
    const outcome = await waitFor(
      async () => (await streamMessages(bus, topology.streams.outcomes.name)).flatMap((m) => outcomesIn(decodeJson<OutcomeMessage>(m.data))).find((o) => o.result === 'discarded'),
      'the discarded outcome',
    );
    expect(outcome.traceId).toBe(oldTraceId);
    expect(telemetry.spans()).toEqual([]);
    expect(telemetry.contextsEntered()).toBe(0);
  });
});
