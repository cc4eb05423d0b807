import {
  NUMERIC_OPERATORS,
  OPERATORS_WITHOUT_VALUES,
  type DeliverySettings,
  type EventFilter,
  type FilterCondition,
  type Operator,
  type PropertyType,
  type Sync,
} from '../api/types.js';

/** One `where` condition as the form edits it: values as typed, comma-separated. */
export interface ConditionForm {
  propertyType: PropertyType;
  property: string;
  operator: Operator;
  valuesText: string;
}

export interface FilterRowForm {
  eventType: string;
  where: ConditionForm[];
}

export type DeliveryForm = { [K in Exclude<keyof DeliverySettings, 'preserveUserOrder'>]: string } & { preserveUserOrder: boolean };

/**
 * `keep`: leave the stored header as it is (editing); `header`: a whole header value;
 * `keys`: Movable Ink's Access Key ID and Access Secret, encoded by the API.
 */
export type AuthMode = 'keep' | 'header' | 'keys';

export interface SyncForm {
  name: string;
  enabled: boolean;
  endpointUrl: string;
  authMode: AuthMode;
  authHeader: string;
  accessKeyId: string;
  accessSecret: string;
  sendEvents: boolean;
  eventFilters: FilterRowForm[];
  eventProperties: string[];
  sendUsers: boolean;
  userProperties: string[];
  delivery: DeliveryForm;
}

export const DEFAULT_DELIVERY: DeliverySettings = {
  batchSize: 1,
  maxRequestBytes: 1_000_000,
  maxConcurrency: 16,
  requestTimeoutMs: 10_000,
  retryWindowSeconds: 14_400,
  preserveUserOrder: true,
};

function deliveryForm(d: DeliverySettings): DeliveryForm {
  return {
    batchSize: String(d.batchSize),
    maxRequestBytes: String(d.maxRequestBytes),
    maxConcurrency: String(d.maxConcurrency),
    requestTimeoutMs: String(d.requestTimeoutMs),
    retryWindowSeconds: String(d.retryWindowSeconds),
    preserveUserOrder: d.preserveUserOrder,
  };
}

/** A new sync as the seed's page starts: disabled, events on, users off, one empty row. */
export function newSyncForm(): SyncForm {
  return {
    name: '',
    enabled: false,
    endpointUrl: '',
    authMode: 'keys',
    authHeader: '',
    accessKeyId: '',
    accessSecret: '',
    sendEvents: true,
    eventFilters: [{ eventType: '', where: [] }],
    eventProperties: [],
    sendUsers: false,
    userProperties: [],
    delivery: deliveryForm(DEFAULT_DELIVERY),
  };
}

export function emptyCondition(): ConditionForm {
  return { propertyType: 'event', property: '', operator: 'is', valuesText: '' };
}

export function formOf(sync: Sync): SyncForm {
  return {
    name: sync.name,
    enabled: sync.enabled,
    endpointUrl: sync.endpointUrl,
    authMode: 'keep',
    authHeader: '',
    accessKeyId: '',
    accessSecret: '',
    sendEvents: sync.sendEvents,
    eventFilters: sync.eventFilters.map((row) => ({
      eventType: row.eventType,
      where: (row.where ?? []).map((c) => ({
        propertyType: c.propertyType,
        property: c.property,
        operator: c.operator,
        valuesText: c.values.map(String).join(', '),
      })),
    })),
    eventProperties: [...sync.eventProperties],
    sendUsers: sync.sendUsers,
    userProperties: [...sync.userProperties],
    delivery: deliveryForm(sync.delivery),
  };
}

/**
 * The values of a condition from what was typed: comma-separated, blanks dropped; numbers for
 * the numeric operators (what cannot be read as one is sent as typed, for the API to name);
 * none for `exists` / `does not exist`.
 */
export function valuesOf(text: string, operator: Operator): FilterCondition['values'] {
  if (OPERATORS_WITHOUT_VALUES.has(operator)) return [];
  const parts = text
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (!NUMERIC_OPERATORS.has(operator)) return parts;
  return parts.map((v) => (Number.isFinite(Number(v)) ? Number(v) : v));
}

/** An integer setting as typed: a number when it reads as one, else the text for the API to refuse. */
function settingOf(text: string): number | string {
  const trimmed = text.trim();
  return /^-?\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
}

/**
 * The request body for the form: every field (an update replaces the lists and merges the
 * delivery settings), the authorization only when one was entered. Rows whose event type is
 * left empty are sent as they are, so the API names them.
 */
export function bodyOf(form: SyncForm): Record<string, unknown> {
  const eventFilters: EventFilter[] = form.eventFilters.map((row) => ({
    eventType: row.eventType.trim(),
    ...(row.where.length > 0
      ? {
          where: row.where.map((c) => ({
            propertyType: c.propertyType,
            property: c.property.trim(),
            operator: c.operator,
            values: valuesOf(c.valuesText, c.operator),
          })),
        }
      : {}),
  }));
  const delivery: Record<string, unknown> = { preserveUserOrder: form.delivery.preserveUserOrder };
  for (const key of ['batchSize', 'maxRequestBytes', 'maxConcurrency', 'requestTimeoutMs', 'retryWindowSeconds'] as const) {
    if (form.delivery[key].trim() !== '') delivery[key] = settingOf(form.delivery[key]);
  }
  const body: Record<string, unknown> = {
    name: form.name.trim(),
    enabled: form.enabled,
    endpointUrl: form.endpointUrl.trim(),
    sendEvents: form.sendEvents,
    eventFilters,
    eventProperties: form.eventProperties,
    sendUsers: form.sendUsers,
    userProperties: form.userProperties,
    delivery,
  };
  if (form.authMode === 'header') body.authorization = form.authHeader.trim();
  if (form.authMode === 'keys') body.authorization = { accessKeyId: form.accessKeyId.trim(), accessSecret: form.accessSecret };
  return body;
}
