import { Type, type Static } from '@sinclair/typebox';

export const FILTER_OPERATORS = [
  'is',
  'is not',
  'contains',
  'does not contain',
  'less',
  'less or equal',
  'greater',
  'greater or equal',
  'set is',
  'set is not',
  'glob match',
  'exists',
  'does not exist',
] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];

export const PROPERTY_TYPES = ['event', 'user', 'field'] as const;
export type PropertyType = (typeof PROPERTY_TYPES)[number];

/** The literal Amplitude uses for "this property is absent". */
export const NONE_VALUE = '(none)';

const FilterValue = Type.Union([Type.String({ maxLength: 1024 }), Type.Number(), Type.Boolean()]);

export const FilterConditionSchema = Type.Object(
  {
    propertyType: Type.Union(
      PROPERTY_TYPES.map((t) => Type.Literal(t)),
      { description: '`event` = event_properties, `user` = the user profile, `field` = top-level event fields' },
    ),
    property: Type.String({ minLength: 1, maxLength: 1024 }),
    operator: Type.Union(
      FILTER_OPERATORS.map((o) => Type.Literal(o)),
      { description: 'Amplitude property operator' },
    ),
    values: Type.Array(FilterValue, {
      maxItems: 1000,
      default: [],
      description: 'Values to compare with; `is` matches any of them; "(none)" means absent',
    }),
  },
  { additionalProperties: false },
);
export type FilterCondition = Static<typeof FilterConditionSchema>;

export const EventFilterSchema = Type.Object(
  {
    eventType: Type.String({ minLength: 1, maxLength: 1024, description: 'An event_type, or "*" for all events' }),
    where: Type.Optional(Type.Array(FilterConditionSchema, { maxItems: 100, description: 'All must hold (AND)' })),
  },
  { additionalProperties: false },
);
export type EventFilter = Static<typeof EventFilterSchema>;

export const DeliverySettingsSchema = Type.Object(
  {
    batchSize: Type.Integer({ minimum: 1, maximum: 1000, default: 1 }),
    maxRequestBytes: Type.Integer({ minimum: 1000, maximum: 2_000_000, default: 1_000_000 }),
    maxConcurrency: Type.Integer({ minimum: 1, maximum: 256, default: 16 }),
    requestTimeoutMs: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
    retryWindowSeconds: Type.Integer({ minimum: 60, maximum: 259_200, default: 14_400 }),
    preserveUserOrder: Type.Boolean({ default: true }),
  },
  { additionalProperties: false },
);
export type DeliverySettings = Static<typeof DeliverySettingsSchema>;

export const DEFAULT_DELIVERY_SETTINGS: DeliverySettings = {
  batchSize: 1,
  maxRequestBytes: 1_000_000,
  maxConcurrency: 16,
  requestTimeoutMs: 10_000,
  retryWindowSeconds: 14_400,
  preserveUserOrder: true,
};

export const SYNC_STATES = ['healthy', 'retrying', 'failing', 'disabled'] as const;
export type SyncState = (typeof SYNC_STATES)[number];
