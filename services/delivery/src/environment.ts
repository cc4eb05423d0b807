import { Type } from '@sinclair/typebox';
import { BaseEnvironment, BooleanFlag, Port, loadEnvironment } from '@inkstream/service-kit';

export const DeliveryEnvironment = Type.Object({
  ...BaseEnvironment,
  DELIVERY_PORT: Port(8083),
  SECRET_KEY: Type.String({ minLength: 1, description: '32 bytes, hex or base64: decrypts the sync authorization headers' }),
  ALLOW_PRIVATE_ENDPOINTS: BooleanFlag(false),
});

export const loadDeliveryEnvironment = () => loadEnvironment('delivery', DeliveryEnvironment);
