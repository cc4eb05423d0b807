import type { Bus, KV, Topology } from '@inkstream/bus';
import type { HttpSender } from '@inkstream/movable-ink';
import type { SecretBox } from '@inkstream/secret-box';
import type { Database } from './db/database.js';
import type { EndpointPolicy } from './syncs/endpoint-policy.js';

/** What every operation (`(ctx, input)`) works with. */
export interface ConfigContext {
  db: Database;
  secretBox: SecretBox;
  endpointPolicy: EndpointPolicy;
  /** Who history records as the author of a change. */
  actor: string;
  /** Called after a change has committed: wakes the outbox relay so it publishes now. */
  changed(): void;
  /** JetStream: the dead-letter stream (read, redrive) and the delivery stream (redrive). */
  bus: Pick<Bus, 'js' | 'jsm'>;
  topology: Topology;
  /** The filter's user profiles, read by the preview. */
  profiles: KV;
  /** The config bucket, for `POST /v1/config-bucket/reconcile` (the route exists only with it). */
  configBucket?: KV | undefined;
  /** Sends the test payload of `POST /syncs/:id/test` (private endpoints as configured). */
  sender: HttpSender;
}
