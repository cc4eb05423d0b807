import { Type } from '@sinclair/typebox';
import { secretKeyProblem } from '@inkstream/secret-box';
import { BaseEnvironment, BooleanFlag, Port, loadEnvironment } from '@inkstream/service-kit';

export const DeliveryEnvironment = Type.Object({
  ...BaseEnvironment,
  DELIVERY_PORT: Port(8083),
  SECRET_KEY: Type.String({ minLength: 1, description: '32 bytes, hex or base64: decrypts the sync authorization headers' }),
  SECRET_KEY_PREVIOUS: Type.Optional(Type.String({ description: 'During a key rotation, the old SECRET_KEY (also opens)' })),
  ALLOW_PRIVATE_ENDPOINTS: BooleanFlag(false),
  DELIVERY_RETRY_BASE_MS: Type.Integer({ default: 10_000, minimum: 10, description: 'First durable retry delay (doubles each retry, full jitter)' }),
  DELIVERY_RETRY_MAX_MS: Type.Integer({ default: 600_000, minimum: 10, description: 'Longest durable retry delay' }),
});

export const loadDeliveryEnvironment = () =>
  loadEnvironment('delivery', DeliveryEnvironment, { SECRET_KEY: secretKeyProblem, SECRET_KEY_PREVIOUS: secretKeyProblem });
