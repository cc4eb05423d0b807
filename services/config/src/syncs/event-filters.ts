import type { EventFilter, FilterOperator } from '@inkstream/contracts';
import { InvalidInputError } from '../errors.js';

const OPERATORS_WITHOUT_VALUES: ReadonlySet<FilterOperator> = new Set(['exists', 'does not exist']);
const NUMERIC_OPERATORS: ReadonlySet<FilterOperator> = new Set(['less', 'less or equal', 'greater', 'greater or equal']);

/**
 * The rules of filter rows the schema cannot say: names are not blank, every operator except
 * `exists` / `does not exist` has values to compare with, numeric operators get numbers and
 * `glob match` gets patterns.
 */
export function assertEventFiltersValid(filters: readonly EventFilter[], field = 'body/eventFilters'): void {
  filters.forEach((row, i) => {
    if (row.eventType.trim() === '') throw new InvalidInputError(`${field}/${i}/eventType`, 'must not be blank');
    (row.where ?? []).forEach((condition, j) => {
      const at = `${field}/${i}/where/${j}`;
      if (condition.property.trim() === '') throw new InvalidInputError(`${at}/property`, 'must not be blank');
      const values = condition.values ?? [];
      if (OPERATORS_WITHOUT_VALUES.has(condition.operator)) return;
      if (values.length === 0) {
        throw new InvalidInputError(`${at}/values`, `must not be empty for operator "${condition.operator}"`);
      }
      values.forEach((value, k) => {
        if (NUMERIC_OPERATORS.has(condition.operator) && !isNumeric(value)) {
          throw new InvalidInputError(`${at}/values/${k}`, `must be a number for operator "${condition.operator}"`);
        }
        if (condition.operator === 'glob match' && typeof value !== 'string') {
          throw new InvalidInputError(`${at}/values/${k}`, 'must be a string pattern for operator "glob match"');
        }
      });
    });
  });
}

function isNumeric(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  return typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value));
}
