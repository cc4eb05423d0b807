import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { ConsumerConfig, StreamConfig } from '@nats-io/jetstream';

/**
 * Every JetStream object inkstream uses, declared in one place. A namespace prefixes all
 * names so that several installations (or test runs) can share one NATS server.
 *
 * Subjects are wire law: the number of partitions decides which user lands on which
 * subject, so changing PARTITIONS reshuffles users across partitions.
 */
export const PARTITIONS = 16;

const SECOND_NS = 1_000_000_000;

/**
 * Short, so a crashed replica's in-flight messages come back quickly; the consumer runner keeps
 * messages that are still being worked on alive with heartbeats every ACK_WAIT_MS / 3.
 */
export const ACK_WAIT_MS = 15_000;
const ACK_WAIT_NS = ACK_WAIT_MS * 1_000_000;
const DAY_NS = 24 * 3600 * SECOND_NS;

/** The services; each stream and bucket has one of them as its owner (see OWNERS). */
export type ServiceName = 'ingest' | 'config' | 'filter' | 'delivery';

/** The fan-out dedup window of the delivery and dead-letter streams (a payload's message_id). */
const PAYLOAD_DEDUP_WINDOW_NS = 600 * SECOND_NS;

export interface TopologyOptions {
  /** Prefix of every stream, subject, consumer and bucket name. Default `inkstream`. */
  namespace?: string;
  /**
   * The service that declares with this topology. It brings the streams and buckets it owns to
   * the declared settings and only creates the others when they are missing, so a tunable of
   * one service (ingest's dedup window) holds whichever service starts last. Unset: owns all
   * (tools and tests that declare everything themselves).
   */
  service?: ServiceName;
  /** Copies of every stream and KV bucket on a NATS cluster (`NATS_REPLICAS`). Default 1. */
  replicas?: number;
  /** JetStream duplicate window of the ingest stream, seconds (`INGEST_DEDUP_WINDOW_SECONDS`). Default 600. */
  dedupWindowSeconds?: number;
  /** How long accepted events stay in the ingest stream, days. Default 7. */
  ingestRetentionDays?: number;
  /** How long dead letters are kept, days. Default 14. */
  deadLetterRetentionDays?: number;
}

export type Topology = ReturnType<typeof createTopology>;

/** JetStream keeps at most five copies of a stream. */
export const MAX_REPLICAS = 5;

/**
 * The one service that sets each stream's and bucket's settings: the one whose environment
 * tunes it or that writes it. The others create what is missing and leave the rest alone.
 */
export const OWNERS = {
  streams: { ingest: 'ingest', delivery: 'filter', processed: 'filter', outcomes: 'delivery', deadLetters: 'delivery' },
  buckets: {
    config: 'config',
    profiles: 'filter',
    filterLeases: 'filter',
    deliveryLeases: 'delivery',
    configLeases: 'config',
    deliveryAttempts: 'delivery',
  },
} as const satisfies { streams: Record<string, ServiceName>; buckets: Record<string, ServiceName> };

/** A KV bucket as the topology declares it. */
export interface BucketDeclaration {
  name: string;
  /** Values kept per key. */
  history: number;
  /** Entries expire after this many ms (leases). */
  ttl?: number;
  /** Copies on a NATS cluster. Default 1. */
  replicas?: number;
  /** False: only create the bucket when missing, never change an existing one. Default true. */
  owned?: boolean;
}

export function createTopology(options: TopologyOptions = {}) {
  const ns = options.namespace ?? 'inkstream';
  if (!/^[A-Za-z0-9_-]+$/.test(ns)) {
    throw new Error(`namespace "${ns}" may only contain letters, digits, "_" and "-"`);
  }
  const upper = ns.toUpperCase().replace(/-/g, '_');
  const dedupNs = (options.dedupWindowSeconds ?? 600) * SECOND_NS;
  const replicas = options.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) {
    throw new Error(`replicas must be a whole number from 1 to ${MAX_REPLICAS} (JetStream's limit), not ${replicas}`);
  }

  const streams = {
    ingest: {
      name: `${upper}_INGEST`,
      subjects: [`${ns}.ingest.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: (options.ingestRetentionDays ?? 7) * DAY_NS,
      duplicate_window: dedupNs,
      num_replicas: replicas,
    },
    delivery: {
      name: `${upper}_DELIVERY`,
      subjects: [`${ns}.delivery.>`],
      // Work queue: a payload leaves the stream when it was delivered or dead-lettered.
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      // Refuse new payloads rather than silently dropping old ones when a limit is hit.
      discard: DiscardPolicy.New,
      // No age limit: a disabled sync keeps its backlog until it is enabled or deleted (then
      // dead-lettered); nothing leaves this stream without a delivery or a dead letter.
      max_age: 0,
      duplicate_window: PAYLOAD_DEDUP_WINDOW_NS,
      num_replicas: replicas,
    },
    /**
     * The events the filter processed, per ingest partition (processed-log.ts in the filter): one
     * message per flush holding the marks of the records whose work is stored, read back by the
     * replica that takes a partition over. Kept a little longer than the ingest dedup window,
     * which is what it serves (the filter raises it when ingest's window is longer).
     */
    processed: {
      name: `${upper}_FILTER_PROCESSED`,
      subjects: [`${ns}.processed.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: processedMaxAgeNs(dedupNs),
      duplicate_window: 60 * SECOND_NS,
      num_replicas: replicas,
    },
    outcomes: {
      name: `${upper}_OUTCOMES`,
      subjects: [`${ns}.outcome.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      // The config service projects outcomes into Postgres; the stream is only the hand-over.
      max_age: 7 * DAY_NS,
      duplicate_window: 2 * 60 * SECOND_NS,
      num_replicas: replicas,
    },
    deadLetters: {
      name: `${upper}_DEAD_LETTERS`,
      subjects: [`${ns}.deadletter.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      max_age: (options.deadLetterRetentionDays ?? 14) * DAY_NS,
      duplicate_window: PAYLOAD_DEDUP_WINDOW_NS,
      num_replicas: replicas,
    },
  } satisfies Record<string, Partial<StreamConfig> & { name: string; subjects: string[] }>;

  const subjects = {
    ingest: (partition: number) => `${ns}.ingest.${pad(partition)}`,
    ingestAll: `${ns}.ingest.>`,
    delivery: (syncId: string, partition: number) => `${ns}.delivery.${syncId}.${pad(partition)}`,
    deliveryOfSync: (syncId: string) => `${ns}.delivery.${syncId}.>`,
    outcome: (syncId: string) => `${ns}.outcome.${syncId}`,
    outcomeAll: `${ns}.outcome.>`,
    deadLetter: (syncId: string) => `${ns}.deadletter.${syncId}`,
    processed: (partition: number) => `${ns}.processed.${pad(partition)}`,
  };

  /** Low-cardinality forms of the subjects, for span names and metric labels. */
  const subjectTemplates = {
    ingest: `${ns}.ingest.{partition}`,
    delivery: `${ns}.delivery.{sync}.{partition}`,
  };

  const consumers = {
    /**
     * One durable consumer per ingest partition: a partition is worked by one filter replica
     * at a time, which keeps each user's events in order and their profile in one place.
     */
    filter: (partition: number) => ({
      durable_name: `${ns}-filter-p${pad(partition)}`,
      filter_subject: subjects.ingest(partition),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ACK_WAIT_NS,
      max_ack_pending: 1024,
      max_deliver: -1,
    }),
    /** One durable consumer per sync: a failing endpoint only ever holds up its own sync. */
    delivery: (syncId: string, maxAckPending = 1024) => ({
      durable_name: `${ns}-delivery-${syncId}`,
      filter_subject: subjects.deliveryOfSync(syncId),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ACK_WAIT_NS,
      max_ack_pending: maxAckPending,
      max_deliver: -1,
    }),
    /** The config service's projection of delivery outcomes into metrics and status. */
    outcomes: () => ({
      durable_name: `${ns}-config-outcomes`,
      filter_subject: subjects.outcomeAll,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 30 * SECOND_NS,
      max_ack_pending: 4096,
      max_deliver: -1,
    }),
  } satisfies Record<string, (key: never) => Partial<ConsumerConfig>>;

  const owns = (owner: ServiceName) => options.service === undefined || options.service === owner;
  const buckets = {
    config: { name: `${ns}-config`, history: 5, replicas, owned: owns(OWNERS.buckets.config) },
    /** User profiles per project, owned by the filter. */
    profiles: { name: `${ns}-profiles`, history: 1, replicas, owned: owns(OWNERS.buckets.profiles) },
    /** Which filter replica works which ingest partition (see LeaseManager). */
    filterLeases: { name: `${ns}-filter-leases`, history: 1, ttl: 10_000, replicas, owned: owns(OWNERS.buckets.filterLeases) },
    /** Which delivery replica works which sync. */
    deliveryLeases: { name: `${ns}-delivery-leases`, history: 1, ttl: 10_000, replicas, owned: owns(OWNERS.buckets.deliveryLeases) },
    /** Which config replica projects the delivery outcomes into Postgres. */
    configLeases: { name: `${ns}-config-leases`, history: 1, ttl: 10_000, replicas, owned: owns(OWNERS.buckets.configLeases) },
    /** Retry state of payloads that failed at least once (first attempt, attempts). */
    deliveryAttempts: {
      name: `${ns}-delivery-attempts`,
      history: 1,
      ttl: 4 * 24 * 3600 * 1000,
      replicas,
      owned: owns(OWNERS.buckets.deliveryAttempts),
    },
  } satisfies Record<keyof typeof OWNERS.buckets, BucketDeclaration>;

  /** Whether this topology's service brings a stream to its declared settings (see OWNERS). */
  const ownsStream = (stream: keyof typeof streams) => owns(OWNERS.streams[stream]);

  return { namespace: ns, service: options.service, replicas, streams, subjects, subjectTemplates, consumers, buckets, ownsStream };
}

/** How long the filter's processed marks are kept for an ingest dedup window (both ns): the window and ten minutes. */
export function processedMaxAgeNs(dedupWindowNs: number): number {
  return dedupWindowNs + 600 * SECOND_NS;
}

function pad(partition: number): string {
  return partition.toString().padStart(2, '0');
}
