import { randomBytes } from 'node:crypto';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { HttpSender } from '@inkstream/movable-ink';
import { createSecretBox, type SecretBox } from '@inkstream/secret-box';
import { createMetricsRegistry, type Server } from '@inkstream/service-kit';
import { buildConfigApp } from '../app.js';
import type { DatabaseHandle } from '../db/database.js';
import { createEndpointPolicy, type LookupAll } from '../syncs/endpoint-policy.js';
import { captureLogs, type CapturedLogs } from './logs.js';
import { openTestNats, type TestNats } from './nats.js';

/** What the fake DNS answers in tests; anything else does not resolve. */
export const TEST_HOSTS: Record<string, string[]> = {
  'collector.movableink-dmz.com': ['34.120.1.10', '2606:4700:4700::1111'],
  'internal.example.com': ['34.120.1.10', '10.0.0.5'],
  'metadata.example.com': ['169.254.169.254'],
};

export const fakeLookupAll: LookupAll = async (host) => {
  const addresses = TEST_HOSTS[host];
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return addresses;
};

export const ENDPOINT_URL = 'https://collector.movableink-dmz.com/behavioral/abc123';

export interface AppHarness {
  app: Server;
  logs: CapturedLogs;
  adminToken: string;
  secretBox: SecretBox;
  /** The NATS namespace the app works in (its own unless one was given). */
  nats: TestNats;
  /** Number of committed changes the app reported (what wakes the relay). */
  changes(): number;
  /** A /v1 request with the admin token. */
  api(method: InjectOptions['method'], url: string, body?: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  allowPrivateEndpoints?: boolean;
  onChange?: () => void;
  /** Shared NATS (the caller disposes it); default: a namespace of the app's own. */
  nats?: TestNats;
  /** The SECRET_KEY of another app over the same database; default: a new key. */
  secretBox?: SecretBox;
}

/**
 * The config app over a test database, with captured logs, the fake DNS for saving endpoints
 * and the real NATS (for dead letters and profiles).
 */
export async function startApp(database: DatabaseHandle, options: HarnessOptions = {}): Promise<AppHarness> {
  const logs = captureLogs();
  const nats = options.nats ?? (await openTestNats(logs.logger));
  const sender = new HttpSender({ allowPrivateEndpoints: options.allowPrivateEndpoints ?? false, connectionsPerOrigin: 2 });
  const adminToken = randomBytes(24).toString('hex');
  const secretBox = options.secretBox ?? createSecretBox(randomBytes(32).toString('hex'));
  let changes = 0;
  const app = await buildConfigApp({
    logger: logs.logger,
    metrics: createMetricsRegistry('config'),
    database,
    secretBox,
    adminToken,
    endpointPolicy: createEndpointPolicy({
      allowPrivateEndpoints: options.allowPrivateEndpoints ?? false,
      lookupAll: fakeLookupAll,
    }),
    bus: nats.bus,
    topology: nats.topology,
    profiles: nats.profiles,
    configBucket: nats.config,
    sender,
    onChange: () => {
      changes += 1;
      options.onChange?.();
    },
  });
  return {
    app,
    logs,
    adminToken,
    secretBox,
    nats,
    changes: () => changes,
    api: (method, url, body, headers = {}) =>
      app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${adminToken}`, ...headers },
        ...(body === undefined ? {} : { payload: body as InjectOptions['payload'] }),
      }),
    async close() {
      await app.close();
      await sender.close();
      if (!options.nats) await nats.dispose();
    },
  };
}

/** A valid sync body, with overrides. */
export function syncBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'Movable Ink – prod',
    endpointUrl: ENDPOINT_URL,
    authorization: 'Basic dGVzdDp0ZXN0',
    ...overrides,
  };
}
