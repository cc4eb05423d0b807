import type { DeliverySettings } from '@inkstream/contracts';
import type { DeliverySettingsInput } from './input.js';

/** Settings after a (partial) change: what was given replaces, the rest stays. */
export function mergeDeliverySettings(current: DeliverySettings, change: DeliverySettingsInput | undefined): DeliverySettings {
  const merged: DeliverySettings = { ...current };
  if (!change) return merged;
  for (const [name, value] of Object.entries(change) as [keyof DeliverySettings, unknown][]) {
    if (value !== undefined) (merged as Record<string, unknown>)[name] = value;
  }
  return merged;
}
