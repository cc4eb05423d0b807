import { JetStreamApiError } from '@nats-io/jetstream';
import type { ConsumerConfig, JetStreamManager, StreamConfig, StreamInfo } from '@nats-io/jetstream';
import type { Kvm, KV } from '@nats-io/kv';
import type { BusLogger } from './connection.js';
import {
  ReplicasError,
  classifyDeclareError,
  clusterTooSmall,
  notClustered,
  notClusteredProblem,
  type ServerFacts,
} from './replicas-check.js';
import { StartupRetry, StartupTimeoutError, classifyStartupError, defaultStartupRetry, secondsText, type StartupErrorClass } from './startup-retry.js';
import { planStreamUpdate, type KeptSetting, type SettingDifference } from './stream-update-plan.js';
import type { BucketDeclaration, Topology } from './topology.js';

export interface DeclareOptions {
  /**
   * This service owns the stream or bucket: it brings an existing one to the declared settings
   * (never shrinking retention). False: create it when missing, otherwise leave it alone.
   * Default true.
   */
  owned?: boolean;
  /** Where changes and kept settings are reported. */
  logger?: BusLogger;
  /**
   * How long JetStream may stay unable to answer or to place the copies (a cluster still
   * electing its leaders, a server coming back) before declaring fails, when no `startup` is
   * given. Default 30 s.
   */
  settleMs?: number;
  /** The service's start-up patience (STARTUP_TIMEOUT_SECONDS); replaces settleMs. */
  startup?: StartupRetry;
}

export interface DeclareResult {
  name: string;
  created: boolean;
  /** Settings changed on the existing stream. */
  changes: SettingDifference[];
  /** Declared settings left as they are, and why. */
  kept: KeptSetting[];
}

/**
 * Creates a stream, or, when this service owns it, brings the existing one to the declared
 * settings (see stream-update-plan.ts). Idempotent and safe when several services race to declare
 * the same stream at start-up. Asking for more than one copy of a stream on a server that is not
 * clustered, or more copies than the cluster can place, fails with a ReplicasError naming
 * NATS_REPLICAS.
 */
export async function declareStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
  options: DeclareOptions = {},
): Promise<DeclareResult> {
  const replicas = config.num_replicas ?? 1;
  const result = await settle(jsm, replicas, `the stream ${config.name}`, options, async () => {
    const info = await streamInfo(jsm, config.name);
    if (!info) {
      await jsm.streams.add(config);
      return { name: config.name, created: true, changes: [], kept: [] };
    }
    return bringUpToDate(jsm, info, config, replicas, options);
  });
  report(result, options.logger);
  return result;
}

/**
 * Creates a durable consumer or updates the settings that may change. At start-up (`startup` or
 * `settleMs` given) JetStream not answering yet (a timeout, no leader) is retried until the
 * deadline; a consumer config JetStream rejects fails at once. Without them (a consumer declared
 * while running) it is tried once and the caller decides.
 */
export async function declareConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig> & { durable_name: string },
  options: Pick<DeclareOptions, 'logger' | 'settleMs' | 'startup'> = {},
): Promise<void> {
  const declare = async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        const info = await jsm.consumers.info(stream, config.durable_name);
        const { durable_name, deliver_policy: _dp, filter_subject: _fs, ...changeable } = config;
        if (differs(info.config, changeable)) {
          await jsm.consumers.update(stream, durable_name, changeable);
        }
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
        try {
          await jsm.consumers.add(stream, config);
          return;
        } catch (addErr) {
          // Another replica created it first: read it again.
          if (attempt >= 2) throw addErr;
        }
      }
    }
  };
  if (!options.startup && options.settleMs === undefined) return declare();
  const startup = defaultStartupRetry(options.startup, options.settleMs ?? 30_000, options.logger);
  await startup.run(`JetStream (declaring the consumer ${config.durable_name} on ${stream})`, declare);
}

/**
 * Declares the streams every service relies on. Each service calls it at start-up with its own
 * topology: the streams it owns are brought to their declared settings, the others only created
 * when missing (Topology.ownsStream).
 */
export async function declareStreams(
  jsm: JetStreamManager,
  topology: Topology,
  options: Omit<DeclareOptions, 'owned'> = {},
): Promise<DeclareResult[]> {
  const results: DeclareResult[] = [];
  for (const [key, stream] of Object.entries(topology.streams) as Array<[keyof Topology['streams'], Topology['streams'][keyof Topology['streams']]]>) {
    results.push(await declareStream(jsm, stream, { ...options, owned: topology.ownsStream(key) }));
  }
  return results;
}

/**
 * Opens one of the topology's KV buckets, creating it when missing; when this service owns it
 * (`spec.owned`, default true) an existing bucket is brought to the declared copies, history and
 * TTL (history never shrinks by itself).
 */
export async function openBucket(kvm: Kvm, spec: BucketDeclaration, options: Omit<DeclareOptions, 'owned'> = {}): Promise<KV> {
  const replicas = spec.replicas ?? 1;
  const stream = `KV_${spec.name}`;
  const jsm = await kvm.js.jetstreamManager(false);
  let kv: KV | undefined;
  const result = await settle(jsm, replicas, `the bucket ${spec.name}`, options, async () => {
    const existing = await streamInfo(jsm, stream);
    kv = await kvm.create(spec.name, {
      history: spec.history,
      replicas,
      ...(spec.ttl !== undefined ? { ttl: spec.ttl } : {}),
    });
    if (!existing) return { name: stream, created: true, changes: [], kept: [] };
    const declared = { num_replicas: replicas, max_msgs_per_subject: spec.history, max_age: (spec.ttl ?? 0) * 1_000_000 };
    // A lease bucket's TTL is the lease lifetime, not retention: it follows the code both ways.
    return bringUpToDate(jsm, existing, { name: stream, ...declared }, replicas, {
      ...options,
      owned: spec.owned ?? true,
      protectedLimits: ['max_msgs_per_subject', 'max_bytes'],
    });
  });
  report(result, options.logger);
  return kv!;
}

export async function openConfigBucket(kvm: Kvm, topology: Topology, options: Omit<DeclareOptions, 'owned'> = {}): Promise<KV> {
  return openBucket(kvm, topology.buckets.config, options);
}

export function isNotFound(err: unknown): boolean {
  if (err instanceof JetStreamApiError) {
    // `code` is JetStream's API error code (10059 stream, 10014 consumer not found), `status` the HTTP-like one.
    return err.status === 404 || err.code === 10059 || err.code === 10014 || /not found/i.test(err.message);
  }
  return err instanceof Error && /not found/i.test(err.message);
}

async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function bringUpToDate(
  jsm: JetStreamManager,
  info: StreamInfo,
  declared: { name: string } & object,
  replicas: number,
  options: DeclareOptions & { protectedLimits?: readonly string[] },
): Promise<DeclareResult> {
  const problem = notClusteredProblem(replicas, info.cluster, serverFacts(jsm));
  if (problem) throw problem;
  const plan = planStreamUpdate(info.config, declared, { owned: options.owned ?? true, protectedLimits: options.protectedLimits });
  if (plan.update) await jsm.streams.update(declared.name, plan.update as Partial<StreamConfig>);
  return { name: declared.name, created: false, changes: plan.changes, kept: plan.kept };
}

/**
 * Runs a declaration until it succeeds, retrying what a cluster answers while it settles (no
 * leader yet, a peer coming back, a create racing another service's) until the start-up's
 * deadline (or settleMs); turns "cannot keep that many copies" into a ReplicasError naming
 * NATS_REPLICAS — at once on a server that is not clustered, at the deadline when the cluster
 * cannot place the copies (its other servers may still be starting).
 */
async function settle<T>(jsm: JetStreamManager, replicas: number, what: string, options: DeclareOptions, declare: () => Promise<T>): Promise<T> {
  const startup = defaultStartupRetry(options.startup, options.settleMs ?? 30_000, options.logger);
  try {
    return await startup.run(`JetStream (declaring ${what})`, declare, (err) => declareVerdict(err, replicas));
  } catch (err) {
    if (err instanceof ReplicasError) throw err;
    const facts = serverFacts(jsm);
    const last = err instanceof StartupTimeoutError ? err.lastError : err;
    const failure = classifyDeclareError(last as Error & { code?: number; status?: number });
    if (failure === 'not-clustered') throw notClustered(replicas, facts);
    if (failure === 'placement' && err instanceof StartupTimeoutError) {
      throw clusterTooSmall(replicas, what, facts, `${(last as Error).message}; waited ${secondsText(err.timeoutMs)} s`);
    }
    throw err;
  }
}

/** Whether a declaration's failure is worth waiting out (see classifyDeclareError). */
function declareVerdict(err: unknown, replicas: number): StartupErrorClass {
  if (err instanceof ReplicasError) return { transient: false, reason: 'replicas' };
  switch (classifyDeclareError(err as Error & { code?: number; status?: number })) {
    case 'not-clustered':
      return { transient: false, reason: 'not clustered' };
    case 'placement':
      return { transient: true, reason: `JetStream cannot place ${replicas} copies yet (servers still joining the cluster?)` };
    case 'transient': {
      const verdict = classifyStartupError(err);
      return { transient: true, reason: verdict.transient ? verdict.reason : 'JetStream settling (a create racing another service?)' };
    }
    default:
      return { transient: false, reason: classifyStartupError(err).reason };
  }
}

/** The server's INFO as the connection behind the manager received it (for error messages). */
function serverFacts(jsm: JetStreamManager): ServerFacts {
  const info = (jsm as unknown as { nc?: { info?: { server_name?: string; cluster?: string; connect_urls?: string[] } } }).nc?.info;
  return { server: info?.server_name, cluster: info?.cluster, connectUrls: info?.connect_urls };
}

function report(result: DeclareResult, logger: BusLogger | undefined): void {
  if (!logger) return;
  if (result.changes.length > 0) {
    logger.info({ stream: result.name, changes: result.changes }, 'JetStream settings brought to the declared values');
  }
  const retention = result.kept.filter((k) => k.why === 'retention');
  if (retention.length > 0) {
    logger.warn(
      { stream: result.name, kept: retention },
      'kept the larger existing retention: shrinking it would delete stored data; change it by hand (nats stream edit) if that is meant',
    );
  }
  const copies = result.kept.filter((k) => k.why === 'copies');
  if (copies.length > 0) {
    logger.warn(
      { stream: result.name, kept: copies },
      'kept the existing copies: NATS_REPLICAS is lower than the stream has (set it the same in every service); lower them by hand (nats stream edit --replicas) if that is meant',
    );
  }
  const notOwned = result.kept.filter((k) => k.why === 'not-owner');
  if (notOwned.length > 0) {
    logger.info({ stream: result.name, differs: notOwned }, 'settings differ from this service\'s defaults; the owning service sets them');
  }
}

function differs(current: object, wanted: object): boolean {
  const cur = current as Record<string, unknown>;
  return Object.entries(wanted).some(([k, v]) => JSON.stringify(cur[k]) !== JSON.stringify(v));
}
