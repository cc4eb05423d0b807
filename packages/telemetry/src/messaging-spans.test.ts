import { SpanStatusCode, context, trace } from '@opentelemetry/api';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { httpAttemptOf, withHttpAttempt } from './http-attempt.js';
import { activeTraceFields } from './log-correlation.js';
import {
  activeSpanRecording,
  activeTraceId,
  annotateActiveSpan,
  traceBatchProcess,
  sharedCarriedContext,
  traceCarriedBatchProcess,
  traceCarriedProcess,
  tracePublish,
  traceProcess,
} from './messaging-spans.js';
import { SpanKind, startTestTelemetry, type TestTelemetry } from './testing.js';

const subject = 'inkstream.delivery.s1.03';
const template = 'inkstream.delivery.{sync}.{partition}';

describe('messaging spans', () => {
  let telemetry: TestTelemetry;
  beforeAll(() => {
    telemetry = startTestTelemetry();
  });
  beforeEach(() => telemetry.reset());
  afterAll(() => telemetry.stop());

  /** Publishes like a producer would, returning the headers it sent. */
  async function published(parent = context.active()): Promise<MsgHdrs | undefined> {
    let sent: MsgHdrs | undefined;
    await tracePublish({ subject, template, messageId: 'm1', bodySize: 42 }, async (h) => {
      sent = h;
    }, parent);
    return sent;
  }

  it('publishes in a PRODUCER span, child of the active span, whose context the headers carry', async () => {
    const request = telemetry.startSpan('request', SpanKind.SERVER);
    const headers = await context.with(trace.setSpan(context.active(), request), () => published());
    request.end();
    const producer = telemetry.spans().find((s) => s.kind === SpanKind.PRODUCER)!;
    expect(producer.name).toBe(`publish ${template}`);
    expect(producer.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(producer.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'publish',
      'messaging.destination.name': subject,
      'messaging.destination.template': template,
      'messaging.message.id': 'm1',
      'messaging.message.body.size': 42,
    });
    const { traceId, spanId } = producer.spanContext();
    expect(headers?.get('traceparent')).toBe(`00-${traceId}-${spanId}-01`);
  });

  it('marks a refused publish as an error and passes the error on', async () => {
    await expect(tracePublish({ subject, template }, async () => Promise.reject(new Error('no responders')))).rejects.toThrow('no responders');
    const producer = telemetry.spans().find((s) => s.kind === SpanKind.PRODUCER)!;
    expect(producer.status).toEqual({ code: SpanStatusCode.ERROR, message: 'no responders' });
    expect(producer.events.some((e) => e.name === 'exception')).toBe(true);
  });

  it('processes a message in a CONSUMER span parented on the published context, active for the work', async () => {
    const headers = await published();
    const producer = telemetry.spans().find((s) => s.kind === SpanKind.PRODUCER)!;
    const seen = await traceProcess({ subject, template, consumer: 'inkstream-delivery-s1', headers, messageId: 'm1', deliveryCount: 2 }, async () => ({
      traceId: activeTraceId(),
      fields: activeTraceFields(),
      attempt: withHttpAttempt(3, () => httpAttemptOf()),
    }));
    const consumer = telemetry.spans().find((s) => s.kind === SpanKind.CONSUMER)!;
    expect(consumer.name).toBe(`process ${template}`);
    expect(consumer.spanContext().traceId).toBe(producer.spanContext().traceId);
    expect(consumer.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
    expect(consumer.attributes).toMatchObject({
      'messaging.operation.type': 'process',
      'messaging.consumer.group.name': 'inkstream-delivery-s1',
      'messaging.message.id': 'm1',
      'inkstream.delivery_count': 2,
    });
    expect(seen).toEqual({
      traceId: producer.spanContext().traceId,
      fields: { trace_id: producer.spanContext().traceId, span_id: consumer.spanContext().spanId },
      attempt: 3,
    });
    expect(httpAttemptOf()).toBeUndefined();
  });

  it('starts a trace for a message that carries none', async () => {
    await traceProcess({ subject, template, consumer: 'c', headers: undefined }, async () => undefined);
    const consumer = telemetry.spans().find((s) => s.kind === SpanKind.CONSUMER)!;
    expect(consumer.parentSpanContext).toBeUndefined();
  });

  it('records a failed handler on the span', async () => {
    await expect(traceProcess({ subject, template, consumer: 'c', headers: undefined }, async () => {
      annotateActiveSpan({ 'inkstream.outcome': 'dead-letter' });
      throw new Error('boom');
    })).rejects.toThrow('boom');
    const consumer = telemetry.spans().find((s) => s.kind === SpanKind.CONSUMER)!;
    expect(consumer.status.code).toBe(SpanStatusCode.ERROR);
    expect(consumer.attributes['inkstream.outcome']).toBe('dead-letter');
  });

  it('handles a batch in one span of its own trace, linked to each message’s context', async () => {
    const outer = telemetry.startSpan('unrelated');
    const headers = [await published(), await published(), undefined, (() => {
      const h = natsHeaders();
      h.set('traceparent', 'not-a-traceparent');
      return h;
    })()];
    const producers = telemetry.spans().filter((s) => s.kind === SpanKind.PRODUCER);
    await context.with(trace.setSpan(context.active(), outer), () =>
      traceBatchProcess({ subject: 'inkstream.delivery.s1.>', template, consumer: 'c', headers }, async () => undefined),
    );
    outer.end();
    const batch = telemetry.spans().find((s) => s.kind === SpanKind.CONSUMER)!;
    expect(batch.parentSpanContext).toBeUndefined();
    expect(batch.spanContext().traceId).not.toBe(outer.spanContext().traceId);
    expect(batch.attributes['messaging.batch.message_count']).toBe(4);
    expect(batch.links.map((l) => l.context.spanId)).toEqual(producers.map((p) => p.spanContext().spanId));
    expect(batch.links.map((l) => l.context.traceId)).toEqual(producers.map((p) => p.spanContext().traceId));
  });

  it('gives no trace fields and no trace id outside a span', () => {
    expect(activeTraceFields()).toEqual({});
    expect(activeTraceId()).toBeUndefined();
  });

  it('links a span to contexts carried in message bodies (traceparent/tracestate) or headers, parents it on the one context all share, and parents a carried process on one', async () => {
    const headers = await published();
    const carried = { traceparent: headers!.get('traceparent'), tracestate: 'k=v' };
    const producer = telemetry.spans().find((s) => s.kind === SpanKind.PRODUCER)!;
    // Payloads of several contexts: a trace of its own, linked to each.
    const other = await published();
    const otherProducer = telemetry.spans().filter((s) => s.kind === SpanKind.PRODUCER)[1]!;
    const recording = await traceCarriedBatchProcess({ subject, template, consumer: 'c', carriers: [carried, headers, other, { }, undefined] }, async () => activeSpanRecording());
    expect(recording).toBe(true);
    const batch = telemetry.spans().find((s) => s.kind === SpanKind.CONSUMER)!;
    expect(batch.parentSpanContext).toBeUndefined();
    expect(batch.attributes['messaging.batch.message_count']).toBe(5);
    expect(batch.links.map((l) => l.context.spanId)).toEqual([producer.spanContext().spanId, producer.spanContext().spanId, otherProducer.spanContext().spanId]);
    expect(batch.links[0]!.context.traceState?.get('k')).toBe('v');
    // Payloads that all carry one context (a segment of one request's events): a child of it.
    telemetry.reset();
    const sameTrace = await traceCarriedBatchProcess({ subject, template, consumer: 'c', carriers: [carried, headers, undefined] }, async () => activeTraceId());
    const segment = telemetry.spans().find((s) => s.kind === SpanKind.CONSUMER)!;
    expect(sameTrace).toBe(producer.spanContext().traceId);
    expect(segment.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
    expect(segment.attributes['messaging.batch.message_count']).toBe(3);
    telemetry.reset();
    const traceId = await traceCarriedProcess({ subject, template, consumer: 'c', carrier: carried, messageId: 'm1' }, async () => activeTraceId());
    expect(traceId).toBe(producer.spanContext().traceId);
    expect(telemetry.spans().find((s) => s.kind === SpanKind.CONSUMER)!.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
  });

  it('finds the one context a batch\'s carriers share, skipping those without one, and none when there are several', async () => {
    const headers = await published();
    const other = await published();
    const traceparent = headers!.get('traceparent');
    const traceIdOf = (ctx: ReturnType<typeof sharedCarriedContext>) => (ctx ? trace.getSpanContext(ctx)?.traceId : undefined);
    const cases: Array<[string, Parameters<typeof sharedCarriedContext>[0], string | undefined]> = [
      ['nothing', [], undefined],
      ['no context at all', [undefined, {}, { traceparent: 'not a traceparent' }], undefined],
      ['one, repeated, in bodies and headers', [{ traceparent }, undefined, headers, { traceparent, tracestate: 'k=v' }], traceparent.slice(3, 35)],
      ['one after an invalid one', [{ traceparent: `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01` }, { traceparent }], traceparent.slice(3, 35)],
      ['several', [{ traceparent }, other, { traceparent }], undefined],
    ];
    for (const [name, carriers, expected] of cases) expect(traceIdOf(sharedCarriedContext(carriers)), name).toBe(expected);
  });
});
