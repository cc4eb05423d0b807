import { Type } from '@sinclair/typebox';
import { MAX_POINTS } from './series-buckets.js';

const count = (description: string) => Type.Integer({ minimum: 0, description });

export const DeliverySeriesSchema = Type.Object(
  {
    timePeriod: Type.String({ description: 'The period asked for, or CUSTOM for start/end' }),
    bucketSeconds: Type.Integer({ minimum: 60, description: `Length of each point's bucket: the smallest that makes at most ${MAX_POINTS} points` }),
    timePeriodStart: Type.String({ format: 'date-time', description: 'Window start, inclusive, on a whole minute' }),
    timePeriodEnd: Type.String({ format: 'date-time', description: 'Window end, exclusive, on a whole minute' }),
    points: Type.Array(
      Type.Object({
        start: Type.String({ format: 'date-time', description: 'Bucket start, inclusive' }),
        delivered: count('Payloads Movable Ink accepted'),
        notDelivered: count('Payloads that ended undelivered (expired, rejected, dropped, discarded)'),
        failedAttempts: count('Requests answered with anything but a 2xx, or not answered (each retry counts)'),
      }),
      { description: 'Every bucket of the window, oldest first, zeros included' },
    ),
  },
  { description: "A sync's deliveries and failures over time, for a chart; sums equal the metrics of the same window" },
);
