/**
 * An event as Amplitude's HTTP V2 / Batch APIs accept it. Ingest validates the fields it
 * must (ids, event_type, time, property objects); everything else is carried along as sent.
 */
export interface AmplitudeEvent {
  event_type: string;
  user_id?: string;
  device_id?: string;
  /** Milliseconds since epoch (ingest fills in the receive time when absent). */
  time?: number;
  insert_id?: string;
  event_properties?: Record<string, unknown>;
  user_properties?: Record<string, unknown>;
  groups?: Record<string, unknown>;
  group_properties?: Record<string, unknown>;
  [field: string]: unknown;
}

/** Amplitude's user-property operations, in the order Amplitude applies them. */
export const USER_PROPERTY_OPERATIONS = [
  '$clearAll',
  '$unset',
  '$setOnce',
  '$set',
  '$add',
  '$append',
  '$prepend',
  '$preInsert',
  '$postInsert',
  '$remove',
] as const;
export type UserPropertyOperation = (typeof USER_PROPERTY_OPERATIONS)[number];

/** Event types that carry user or group updates rather than behaviour. */
export const IDENTIFY_EVENT_TYPE = '$identify';
export const GROUP_IDENTIFY_EVENT_TYPE = '$groupidentify';
