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
}
