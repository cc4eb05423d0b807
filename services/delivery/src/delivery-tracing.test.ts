import { SpanStatusCode } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '@inkstream/bus';
import { encodeDeliverySegment, type DeliveryJob, type SyncSnapshot } from '@inkstream/contracts';
import { tracePublish } from '@inkstream/telemetry';
import { SpanKind, startTestTelemetry, type ReadableSpan, type TestTelemetry } from '@inkstream/telemetry/testing';
import { waitFor } from '@inkstream/testing';
import { deliveryJob, trackPayload, useDeliveryHarness } from './testing/delivery-harness.js';
import { captureLogs } from './testing/logs.js';

/**
 * The delivery end of a trace: payloads published with their producer's context (as the filter
 * does) are delivered in spans of that trace, retries included, and a batch request links to
 * each payload's trace. Real NATS, a stand-in endpoint, spans kept in memory.
 */
describe('delivery tracing', () => {
  let telemetry: TestTelemetry;
  // Telemetry starts before the harness opens and stops after it closes (after hooks run in reverse).
  beforeAll(() => {
    telemetry = startTestTelemetry();
  });
  afterAll(() => telemetry.stop());
  const h = useDeliveryHarness({ baseMs: 100, capMs: 200 });

  /** Publishes jobs the way the filter does: each in a PRODUCER span whose context rides along. */
  async function enqueue(sync: SyncSnapshot, count: number): Promise<Array<{ job: DeliveryJob; producer: ReadableSpan }>> {
    const out: Array<{ job: DeliveryJob; producer: ReadableSpan }> = [];
    for (let i = 0; i < count; i++) {
      const userKey = `user-${i}`;
      const messageId = `${sync.id}-m${i}`;
      const job = deliveryJob(sync.id, userKey, trackPayload(userKey, messageId, { seq: i }));
      const subject = h.topology.subjects.delivery(sync.id, partitionOf(userKey));
      await tracePublish({ subject, template: h.topology.subjectTemplates.delivery, messageId }, (headers) => h.publishJob(job, headers ? { headers } : {}));
      const producer = telemetry.spans().find((s) => s.kind === SpanKind.PRODUCER && s.attributes['messaging.message.id'] === messageId)!;
      out.push({ job, producer });
    }
    return out;
  }

  const clientSpans = (traceId: string) =>
    telemetry.trace(traceId).filter((s) => s.kind === SpanKind.CLIENT).sort((a, b) => Number(a.attributes['inkstream.attempt']) - Number(b.attributes['inkstream.attempt']));

  it('delivers a payload in its trace, every attempt a client span, retries after a nak included', async () => {
    const sync = h.newSync();
    // Three quick tries fail, the message is nak'ed, the redelivery succeeds.
    h.standIn.respondWith((_r, i) => (i < 3 ? { status: 503 } : { status: 200 }));
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
      expect(delivery.name).toBe(`process ${h.topology.subjectTemplates.delivery}`);
      expect(delivery.attributes).toMatchObject({ 'messaging.system': 'nats', 'messaging.consumer.group.name': h.topology.consumers.delivery(sync.id).durable_name });
    }
    const byDelivery = (d: ReadableSpan) => clients.filter((c) => c.parentSpanContext?.spanId === d.spanContext().spanId).length;
    expect(deliveries.map(byDelivery).sort()).toEqual([1, 3]);
    expect(deliveries.map((d) => d.attributes['inkstream.delivery.decision']).sort()).toEqual(['ack', 'retry']);

    const outcomes = await waitFor(async () => {
      const o = await h.outcomes(sync.id);
      return o.length >= 4 ? o : undefined;
    }, 'four outcomes');
    expect(outcomes.every((o) => o.traceId === traceId)).toBe(true);
  });

  it('sends a batch in one span linked to each payload’s trace', async () => {
    const sync = h.newSync({ batchSize: 3 });
    const enqueued = await enqueue(sync, 3);
    const batch = await waitFor(
      () => telemetry.spans().find((s) => s.kind === SpanKind.CONSUMER && s.attributes['messaging.consumer.group.name'] === h.topology.consumers.delivery(sync.id).durable_name),
      'the batch span',
    );
    expect(batch.parentSpanContext).toBeUndefined();
    expect(batch.attributes['messaging.batch.message_count']).toBe(3);
    expect(batch.links.map((l) => l.context.spanId).sort()).toEqual(enqueued.map((e) => e.producer.spanContext().spanId).sort());
    const client = await waitFor(() => clientSpans(batch.spanContext().traceId)[0], 'the batch request span');
    expect(client.parentSpanContext?.spanId).toBe(batch.spanContext().spanId);
    expect(client.attributes).toMatchObject({ 'http.response.status_code': 200, 'inkstream.attempt': 1 });
    expect(JSON.parse(h.standIn.requests[0]!.body).events).toHaveLength(3);
  });

  it('keeps the trace id with a dead letter, and marks its delivery span as failed', async () => {
    const sync = h.newSync();
    h.standIn.respondWith(() => ({ status: 422, body: '{"message":"unmapped"}' }));
    const [{ producer }] = (await enqueue(sync, 1)) as [{ job: DeliveryJob; producer: ReadableSpan }];
    const traceId = producer.spanContext().traceId;
    const [letter] = await waitFor(async () => {
      const d = await h.deadLetters(sync.id);
      return d.length > 0 ? d : undefined;
    }, 'the dead letter');
    expect(letter!.traceId).toBe(traceId);
    const delivery = await waitFor(() => telemetry.trace(traceId).find((s) => s.kind === SpanKind.CONSUMER), 'the delivery span');
    expect(delivery.status.code).toBe(SpanStatusCode.ERROR);
    expect(delivery.attributes['inkstream.delivery.decision']).toBe('dead-letter');
    expect(clientSpans(traceId).map((c) => c.attributes['http.response.status_code'])).toEqual([422]);
  });

  it('handles a segment in one span linked to each payload’s trace, its requests as children; a retry in the payload’s own trace', async () => {
    const sync = h.newSync();
    const subject = h.topology.subjects.delivery(sync.id, 0);
    // The second payload fails its three quick tries, then succeeds on its durable retry.
    let failures = 3;
    h.standIn.respondWith((r) => ((r.json as { properties: { seq: number } }).properties.seq === 1 && failures-- > 0 ? { status: 503 } : { status: 200 }));
    const payloads = [] as Array<{ messageId: string; userKey: string; payloadType: 'track'; receivedAt: number; traceparent: string; json: string; producer: ReadableSpan }>;
    for (let i = 0; i < 3; i++) {
      const messageId = `${sync.id}-s${i}`;
      const traceparent = await tracePublish({ subject, template: h.topology.subjectTemplates.delivery, messageId }, async (headers) => headers!.get('traceparent'));
      const producer = telemetry.spans().find((s) => s.kind === SpanKind.PRODUCER && s.attributes['messaging.message.id'] === messageId)!;
      const json = JSON.stringify(trackPayload(`user-${i}`, messageId, { seq: i }, 1));
      payloads.push({ messageId, userKey: `user-${i}`, payloadType: 'track', receivedAt: Date.now(), traceparent, json, producer });
    }
    const head = { v: 2 as const, syncId: sync.id, projectId: 'p1', payloads: payloads.map(({ json: _j, producer: _p, ...head }) => head) };
    await h.bus.js.publish(subject, encodeDeliverySegment(head, payloads.map((p) => p.json)));
    const segment = await waitFor(
      () =>
        telemetry
          .spans()
          .find(
            (s) =>
              s.kind === SpanKind.CONSUMER &&
              s.attributes['messaging.batch.message_count'] === 3 &&
              s.attributes['messaging.consumer.group.name'] === h.topology.consumers.delivery(sync.id).durable_name,
          ),
      'the segment span',
      30_000,
    );
    expect(segment.parentSpanContext).toBeUndefined();
    expect(segment.links.map((l) => l.context.spanId).sort()).toEqual(payloads.map((p) => p.producer.spanContext().spanId).sort());
    // First transmissions: the segment's children, no CONSUMER span per payload.
    const children = clientSpans(segment.spanContext().traceId);
    expect(children.length).toBeGreaterThanOrEqual(3 + 2);
    for (const p of payloads) expect(telemetry.trace(p.producer.spanContext().traceId).filter((s) => s.kind === SpanKind.CONSUMER && s !== segment)).toHaveLength(p === payloads[1] ? 1 : 0);
    // The retry of the second payload: a span in its own trace, parented on its producer.
    const retried = payloads[1]!;
    const retry = telemetry.trace(retried.producer.spanContext().traceId).find((s) => s.kind === SpanKind.CONSUMER)!;
    expect(retry.parentSpanContext?.spanId).toBe(retried.producer.spanContext().spanId);
    expect(clientSpans(retried.producer.spanContext().traceId).map((c) => [c.attributes['inkstream.attempt'], c.attributes['http.response.status_code']])).toEqual([[4, 200]]);
    const outcomes = await waitFor(async () => {
      const o = (await h.outcomes(sync.id)).filter((x) => x.messageId === retried.messageId);
      return o.length >= 4 ? o : undefined;
    }, 'the retried payload’s outcomes');
    expect(outcomes.every((o) => o.traceId === retried.producer.spanContext().traceId)).toBe(true);
  });
});

/**
 * Without an exporter nothing is recorded and no context is entered (the telemetry's
 * context-mode.ts): the payloads' trace ids still reach the outcomes, dead letters and log lines.
 */
describe('delivery tracing without an exporter', () => {
  let telemetry: TestTelemetry;
  beforeAll(() => {
    telemetry = startTestTelemetry({ sampling: 'propagate-only' });
  });
  afterAll(() => telemetry.stop());
  const logs = captureLogs('debug');
  const h = useDeliveryHarness({ baseMs: 100, capMs: 200 }, { logger: logs.log });

  it('keeps each payload’s trace id in its outcomes, dead letter and attempt lines, a segment’s and a retried one’s, without entering a context', async () => {
    const sync = h.newSync();
    const subject = h.topology.subjects.delivery(sync.id, 0);
    // The second payload fails its quick tries and its durable retry: 422, a dead letter.
    h.standIn.respondWith((r) => ((r.json as { properties: { seq: number } }).properties.seq === 1 ? { status: 422, body: '{"message":"unmapped"}' } : { status: 200 }));
    const payloads = [] as Array<{ messageId: string; userKey: string; payloadType: 'track'; receivedAt: number; traceparent: string; json: string }>;
    for (let i = 0; i < 3; i++) {
      const messageId = `${sync.id}-p${i}`;
      // As the filter without an exporter writes them: a span not recorded, "not sampled".
      const traceparent = await tracePublish({ subject, template: h.topology.subjectTemplates.delivery, messageId }, async (headers) => headers!.get('traceparent'));
      expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      payloads.push({ messageId, userKey: `user-${i}`, payloadType: 'track', receivedAt: Date.now(), traceparent, json: JSON.stringify(trackPayload(`user-${i}`, messageId, { seq: i }, 1)) });
    }
    const head = { v: 2 as const, syncId: sync.id, projectId: 'p1', payloads: payloads.map(({ json: _j, ...head }) => head) };
    await h.bus.js.publish(subject, encodeDeliverySegment(head, payloads.map((p) => p.json)));
    const traceIdOf = (p: { traceparent: string }) => p.traceparent.slice(3, 35);

    const [letter] = await waitFor(async () => {
      const d = await h.deadLetters(sync.id);
      return d.length > 0 ? d : undefined;
    }, 'the dead letter', 30_000);
    expect(letter!.traceId).toBe(traceIdOf(payloads[1]!));
    const outcomes = await waitFor(async () => {
      const o = await h.outcomes(sync.id);
      return o.filter((x) => x.result === 'delivered').length >= 2 ? o : undefined;
    }, 'the delivered outcomes');
    for (const o of outcomes) expect(o.traceId).toBe(traceIdOf(payloads.find((p) => p.messageId === o.messageId)!));
    const attempts = logs.lines.filter((l) => l.msg === 'attempt');
    expect(attempts.length).toBeGreaterThanOrEqual(3);
    for (const l of attempts) expect(l.trace_id).toBe(traceIdOf(payloads.find((p) => p.messageId === l.messageId)!));
    expect(telemetry.spans()).toEqual([]);
    expect(telemetry.contextsEntered()).toBe(0);
  });
});
