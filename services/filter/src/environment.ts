import { Type } from '@sinclair/typebox';
import { BaseEnvironment, Port, loadEnvironment } from '@inkstream/service-kit';

export const FilterEnvironment = Type.Object({
  ...BaseEnvironment,
  FILTER_PORT: Port(8082),
  FILTER_MAX_IN_FLIGHT: Type.Integer({
    default: 512,
    minimum: 1,
    maximum: 10_000,
    description: 'Ingested events buffered per partition consumer',
  }),
  FILTER_PROFILE_CACHE_SIZE: Type.Integer({ default: 100_000, minimum: 0, description: 'User profiles kept in memory' }),
});

export const loadFilterEnvironment = () => loadEnvironment('filter', FilterEnvironment);
