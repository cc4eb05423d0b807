import type { DeliverySettings, EventFilter } from './sync.js';

/**
 * The config service publishes the current state of every project and sync as a snapshot
 * (JetStream KV, key `projects.<id>` / `syncs.<id>`). Other services build their view from
 * these and ignore a snapshot whose `version` is not newer than the one they hold.
 */
export interface ProjectSnapshot {
  kind: 'project';
  id: string;
  name: string;
  /** sha256 hex of the api key: ingest never sees the key in clear. */
  apiKeyHash: string;
  version: number;
  deleted: boolean;
  updatedAt: string;
}

export interface SyncSnapshot {
  kind: 'sync';
  id: string;
  projectId: string;
  name: string;
  enabled: boolean;
  endpointUrl: string;
  /** The Authorization header value, sealed with SECRET_KEY (see @inkstream/secret-box). */
  authorizationSealed: string;
  sendEvents: boolean;
  eventFilters: EventFilter[];
  eventProperties: string[];
  sendUsers: boolean;
  userProperties: string[];
  delivery: DeliverySettings;
  version: number;
  deleted: boolean;
  updatedAt: string;
}

export type ConfigSnapshot = ProjectSnapshot | SyncSnapshot;

export const configKey = {
  project: (id: string) => `projects.${id}`,
  sync: (id: string) => `syncs.${id}`,
};
