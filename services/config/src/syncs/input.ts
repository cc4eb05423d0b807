import { Type, type Static, type TProperties, type TSchema } from '@sinclair/typebox';
import { DeliverySettingsSchema, EventFilterSchema } from '@inkstream/contracts';

/** What admins send to create or change a sync (validated at the edge, trusted inside). */

export const MAX_ENDPOINT_URL_LENGTH = 2048;

export const AuthorizationInputSchema = Type.Union(
  [
    Type.String({
      minLength: 1,
      maxLength: 4096,
      description: 'The Authorization header value, e.g. "Basic dGVzdDp0ZXN0"',
    }),
    Type.Object(
      {
        accessKeyId: Type.String({ minLength: 1, maxLength: 1024 }),
        accessSecret: Type.String({ minLength: 1, maxLength: 1024 }),
      },
      { additionalProperties: false, description: "Movable Ink's Access Key ID and Access Secret, encoded as Basic for you" },
    ),
  ],
  { description: 'Stored encrypted; never returned or logged in clear' },
);
export type AuthorizationInput = Static<typeof AuthorizationInputSchema>;

const PropertyNames = (description: string) =>
  Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), { maxItems: 1000, description });

function withoutDefaults<P extends TProperties>(properties: P): P {
  const out: Record<string, TSchema> = {};
  for (const [name, schema] of Object.entries(properties)) {
    const { default: _default, ...rest } = schema as TSchema & { default?: unknown };
    out[name] = rest as TSchema;
  }
  return out as P;
}

/** Any subset of the delivery settings; what is left out keeps its current (or default) value. */
export const DeliverySettingsInputSchema = Type.Partial(
  Type.Object(withoutDefaults(DeliverySettingsSchema.properties), { additionalProperties: false }),
  { additionalProperties: false, description: 'Delivery tuning; omitted settings keep their current or default value' },
);
export type DeliverySettingsInput = Static<typeof DeliverySettingsInputSchema>;

const syncFields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  enabled: Type.Boolean({ description: 'Delivers only while true (default false)' }),
  endpointUrl: Type.String({
    format: 'uri',
    maxLength: MAX_ENDPOINT_URL_LENGTH,
    description: 'The Movable Ink behavioral endpoint; https, not a private address',
  }),
  authorization: AuthorizationInputSchema,
  sendEvents: Type.Boolean({ description: 'Send selected events as track payloads (default true)' }),
  eventFilters: Type.Array(EventFilterSchema, {
    maxItems: 100,
    description: 'An event is sent when it matches any row; empty = no event is selected',
  }),
  eventProperties: PropertyNames('Event properties to send; "*" = all'),
  sendUsers: Type.Boolean({ description: 'Send identify payloads for user updates (default false)' }),
  userProperties: PropertyNames('User properties to send; "*" = all'),
  delivery: DeliverySettingsInputSchema,
};

export const SyncCreateSchema = Type.Object(
  {
    name: syncFields.name,
    endpointUrl: syncFields.endpointUrl,
    authorization: syncFields.authorization,
    enabled: Type.Optional(syncFields.enabled),
    sendEvents: Type.Optional(syncFields.sendEvents),
    eventFilters: Type.Optional(syncFields.eventFilters),
    eventProperties: Type.Optional(syncFields.eventProperties),
    sendUsers: Type.Optional(syncFields.sendUsers),
    userProperties: Type.Optional(syncFields.userProperties),
    delivery: Type.Optional(syncFields.delivery),
  },
  { additionalProperties: false },
);
export type SyncCreateInput = Static<typeof SyncCreateSchema>;

export const SyncPatchSchema = Type.Partial(Type.Object(syncFields, { additionalProperties: false }), {
  additionalProperties: false,
  description: 'Only the fields given change; `delivery` merges with the current settings',
});
export type SyncPatchInput = Static<typeof SyncPatchSchema>;
