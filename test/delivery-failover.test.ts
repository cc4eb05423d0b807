import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, createTopology, declareStreams, encodeJson, openBucket, partitionOf, type Bus, type KV } from '@inkstream/bus';
import {
  DEFAULT_DELIVERY_SETTINGS,
  encodeDeliverySegment,
  type DeliveryJob,
  type DeliverySegmentHead,
  type MovableInkPayload,
  type ProjectSnapshot,
  type SegmentPayloadHead,
  type SyncSnapshot,
} from '@inkstream/contracts';
import { createSecretBox } from '@inkstream/secret-box';
import { MovableInkStandIn, NATS_URL, TELEMETRY_REGISTER, freePort, waitFor } from '@inkstream/testing';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = { info() {}, warn() {}, error() {} };

/**
 * Reliability target (spec/operations.md): a delivery replica SIGKILLed while payloads wait for
 * their retries loses nothing and breaks no user's order; the surviving replica takes the sync
 * over within the lease lifetime (10 s) plus a few seconds. Two real delivery processes, the
 * real NATS, configuration written straight into the config bucket.
 */
describe('delivery failover: SIGKILL of the replica that holds a sync with retries pending', () => {
  const topology = createTopology({ namespace: `t_fo_${randomBytes(4).toString('hex')}` });
  const secretKey = randomBytes(32).toString('hex');
  const authorization = 'Basic ZmFpbDpvdmVy';
  const standIn = new MovableInkStandIn();
  const replicas = new Map<number, { child: ChildProcess; logs: string[] }>();
  let bus: Bus;
  let leases: KV;
  const USERS = 12;
  const PER_USER = 15;
  const TOTAL = USERS * PER_USER;

  function startReplica(): void {
    void freePort().then((port) => {
      const child = spawn(process.execPath, ['--enable-source-maps', '--import', TELEMETRY_REGISTER, join(root, 'services', 'delivery', 'dist', 'index.js')], {
        cwd: root,
        env: {
          PATH: process.env.PATH ?? '',
          NATS_URL,
          NATS_NAMESPACE: topology.namespace,
          SECRET_KEY: secretKey,
          ALLOW_PRIVATE_ENDPOINTS: 'true',
          DELIVERY_PORT: String(port),
          HOST: '127.0.0.1',
          LOG_LEVEL: 'warn',
          DELIVERY_RETRY_BASE_MS: '500',
          DELIVERY_RETRY_MAX_MS: '2000',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const logs: string[] = [];
      child.stdout!.on('data', (c: Buffer) => logs.push(c.toString()));
      child.stderr!.on('data', (c: Buffer) => logs.push(c.toString()));
      replicas.set(child.pid!, { child, logs });
    });
  }

  beforeAll(async () => {
    const endpoint = await standIn.start();
    bus = await connectBus({ url: NATS_URL, name: 'failover-test', logger: quiet });
    await declareStreams(bus.jsm, topology);
    leases = await openBucket(bus.kvm, topology.buckets.deliveryLeases);
    const config = await openBucket(bus.kvm, topology.buckets.config);
    const projectId = randomUUID();
    const project: ProjectSnapshot = { kind: 'project', id: projectId, name: 'p', apiKeyHash: 'h', version: 1, deleted: false, updatedAt: new Date().toISOString() };
    await config.put(`projects.${projectId}`, JSON.stringify(project));
    const sync: SyncSnapshot = {
      kind: 'sync',
      id: randomUUID(),
      projectId,
      name: 'failover',
      enabled: true,
      endpointUrl: `${endpoint}/behavioral/failover`,
      authorizationSealed: createSecretBox(secretKey).seal(authorization),
      sendEvents: true,
      eventFilters: [{ eventType: '*' }],
      eventProperties: [],
      sendUsers: false,
      userProperties: [],
      delivery: { ...DEFAULT_DELIVERY_SETTINGS, maxConcurrency: 4, preserveUserOrder: true },
      version: 1,
      deleted: false,
      updatedAt: new Date().toISOString(),
    };
    await config.put(`syncs.${sync.id}`, JSON.stringify(sync));
    syncId = sync.id;
    startReplica();
    startReplica();
  });

  let syncId: string;

  afterAll(async () => {
    for (const { child } of replicas.values()) if (child.exitCode === null) child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1_000));
    for await (const name of bus.jsm.streams.names()) {
      if (name.startsWith(topology.namespace.toUpperCase()) || name.includes(topology.namespace)) await bus.jsm.streams.delete(name);
    }
    await bus.close();
    await standIn.stop();
  });

  async function owner(): Promise<number | undefined> {
    const entry = await leases.get(`lease.${syncId}`).catch(() => null);
    if (!entry || entry.operation !== 'PUT') return undefined;
    const m = /-(\d+)-[0-9a-f]{6}$/.exec(entry.string());
    return m ? Number(m[1]) : undefined;
  }

  const orderOf = (p: Record<string, unknown>) => ({ user: p.user_id as string, seq: (p.properties as { seq: number }).seq });
  const deliveredIds = () => standIn.payloads().map((p) => p.message_id as string);

  it('loses nothing, keeps each user’s order, and the survivor takes over within the lease lifetime plus a few seconds', async () => {
    // The endpoint fails everything for now: every user's first payload waits for a retry.
    let healthy = false;
    standIn.respondWith(() => (healthy ? { status: 200, delayMs: 3 } : { status: 503 }));
    // Half the users' payloads as v1 jobs (an older filter), the other half in v2 segments (one per
    // partition and round, as the filter writes them).
    for (let seq = 0; seq < PER_USER; seq++) {
      const segments = new Map<number, Array<{ head: SegmentPayloadHead; json: string }>>();
      for (let u = 0; u < USERS; u++) {
        const userKey = `fo-user-${u}`;
        const messageId = `${syncId}-u${u}-${seq}`;
        const payload: MovableInkPayload = { type: 'track', event: 'Step', user_id: userKey, timestamp: Date.now(), message_id: messageId, properties: { seq } };
        const partition = partitionOf(userKey);
        if (u % 2 === 1) {
          const list = segments.get(partition) ?? [];
          list.push({ head: { messageId, userKey, payloadType: 'track', receivedAt: Date.now() }, json: JSON.stringify(payload) });
          segments.set(partition, list);
          continue;
        }
        const job: DeliveryJob = { v: 1, syncId, projectId: 'p', payloadType: 'track', messageId, userKey, receivedAt: Date.now(), payload };
        await bus.js.publish(topology.subjects.delivery(syncId, partition), encodeJson(job), { msgID: messageId });
      }
      for (const [partition, list] of segments) {
        const head: DeliverySegmentHead = { v: 2, syncId, projectId: 'p', payloads: list.map((p) => p.head) };
        await bus.js.publish(topology.subjects.delivery(syncId, partition), encodeDeliverySegment(head, list.map((p) => p.json)), {
          msgID: `${syncId}-seg-${seq}-${partition}`,
        });
      }
    }
    const holder = await waitFor(async () => {
      const pid = await owner();
      return pid !== undefined && replicas.has(pid) ? pid : undefined;
    }, 'a replica to take the sync', 60_000, 200);
    // Retries are pending: failed attempts recorded.
    await waitFor(async () => {
      const info = await bus.jsm.streams.info(topology.streams.outcomes.name);
      return info.state.messages >= 8;
    }, 'failed attempts', 60_000, 200);

    // Let a few users through so the killed replica had delivered some and holds the rest.
    healthy = true;
    await waitFor(() => new Set(deliveredIds()).size >= 30, 'some deliveries before the crash', 60_000, 50);
    standIn.respondWith(() => ({ status: 503 }));
    await new Promise((r) => setTimeout(r, 1_500));
    const victim = replicas.get(holder)!.child;
    const exited = new Promise((r) => victim.once('exit', r));
    victim.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();
    standIn.respondWith(() => ({ status: 200, delayMs: 3 }));

    const resumedAt = await waitFor(
      () => standIn.requests.find((r) => r.at > killedAt && r.status === 200)?.at,
      'the survivor to deliver again',
      90_000,
      100,
    );
    await waitFor(() => new Set(deliveredIds()).size === TOTAL, `all ${TOTAL} delivered`, 120_000, 200);
    const survivor = await owner();
    expect(survivor).not.toBe(holder);

    const ids = deliveredIds();
    const duplicates = ids.length - new Set(ids).size;
    console.info(`failover: ${TOTAL} payloads delivered, ${duplicates} duplicates (same message_id, after), resumed ${resumedAt - killedAt} ms after SIGKILL`);
    expect(standIn.orderViolations(orderOf)).toEqual([]);
    expect(standIn.overlaps).toEqual([]);
    // Lease lifetime 10 s, plus the previous owner's unacknowledged payloads coming back (ack_wait
    // 15 s after its last heartbeat, 5 s apart): well under half a minute, not 30 s and more.
    expect(resumedAt - killedAt).toBeLessThan(28_000);
    // Nothing dead-lettered: every payload is in order at the endpoint.
    const dead = await bus.jsm.streams.info(topology.streams.deadLetters.name);
    expect(dead.state.messages).toBe(0);
    const outcomeInfo = await bus.jsm.streams.info(topology.streams.outcomes.name);
    expect(outcomeInfo.state.messages).toBeGreaterThan(0);
  });
});
