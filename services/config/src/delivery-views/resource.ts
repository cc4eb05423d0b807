import { Type, type Static } from '@sinclair/typebox';
import { OUTCOME_RESULTS } from './outcome-message.js';
import { METRICS_PERIODS } from './metrics-window.js';

const count = (description: string) => Type.Integer({ minimum: 0, description });

export const MetricsQuerySchema = Type.Object(
  {
    period: Type.Optional(
      Type.Union(
        Object.keys(METRICS_PERIODS).map((period) => Type.Literal(period as keyof typeof METRICS_PERIODS)),
        { description: 'The window up to now (default ONE_DAY); not with start/end' },
      ),
    ),
    start: Type.Optional(Type.String({ format: 'date-time', description: 'Custom window start (ISO 8601), with end' })),
    end: Type.Optional(Type.String({ format: 'date-time', description: 'Custom window end (ISO 8601), with start' })),
  },
  { additionalProperties: false },
);

export const DeliveryMetricsSchema = Type.Object(
  {
    timePeriod: Type.String({ description: 'The period asked for, or CUSTOM for start/end' }),
    eventsDelivered: count('Payloads Movable Ink accepted (2xx)'),
    eventsNotDelivered: count('expired + rejected + dropped + discarded payloads'),
    deliveryRate: Type.Number({ minimum: 0, maximum: 1, description: 'delivered / (delivered + not delivered); 1 when both are 0' }),
    latencyInSeconds: Type.Number({ minimum: 0, description: 'p95 ingest→delivered of the delivered payloads; 0 when none' }),
    successOnFirstAttempt: count('Delivered on the first request, without any earlier failure'),
    successAfterRetry: count('Delivered after at least one failed or throttled request'),
    eventsExpired: count('Retry window ended without a delivery (dead-lettered)'),
    eventsDiscarded: count('Never sent: no user or device id, older than 30 days, larger than maxRequestBytes'),
    pendingRetries: count('Payloads waiting for another attempt now (not bound to the window)'),
    timePeriodStart: Type.String({ format: 'date-time', description: 'Window start, inclusive, on a whole minute' }),
    timePeriodEnd: Type.String({ format: 'date-time', description: 'Window end, exclusive, on a whole minute' }),
  },
  { description: "A sync's delivery metrics: Amplitude's delivery-metrics summary plus pendingRetries" },
);

export const ErrorsQuerySchema = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50, description: 'How many, newest first (default 50, at most 1000)' }),
  },
  { additionalProperties: false },
);

export const DeliveryErrorSchema = Type.Object(
  {
    at: Type.String({ format: 'date-time', description: 'When the attempt ended' }),
    result: Type.Union(
      OUTCOME_RESULTS.filter((r) => ['retry', 'throttled', 'failing', 'rejected'].includes(r)).map((r) => Type.Literal(r)),
      { description: 'retry / throttled / failing: tried again later; rejected: dead-lettered' },
    ),
    status: Type.Union([Type.Integer(), Type.Null()], { description: 'HTTP status; null when no response came' }),
    error: Type.String({ description: 'e.g. "HTTP 503" or the network error' }),
    responseBody: Type.String({ description: 'Start of the response body, at most 2 KB' }),
    requestId: Type.Union([Type.String(), Type.Null()], { description: "Movable Ink's x-request-id" }),
    attempt: Type.Integer({ minimum: 0, description: "The payload's attempt number" }),
    payloadType: Type.Union([Type.Literal('track'), Type.Literal('identify')]),
    messageId: Type.String({ description: 'The payload message_id' }),
    traceId: Type.Union([Type.String(), Type.Null()], { description: 'Trace of the ingest request' }),
  },
  { description: 'A failed delivery attempt' },
);
export type DeliveryError = Static<typeof DeliveryErrorSchema>;
