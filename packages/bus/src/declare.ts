import { JetStreamApiError } from '@nats-io/jetstream';
import type { ConsumerConfig, JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import type { Kvm, KV } from '@nats-io/kv';
import type { Topology } from './topology.js';

/**
 * Creates a stream, or brings an existing one to the declared config. Idempotent and safe
 * when several services race to declare the same stream at start-up.
 */
export async function declareStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const info = await jsm.streams.info(config.name);
      const { retention: _retention, ...changeable } = config;
      if (differs(info.config, changeable)) {
        await jsm.streams.update(config.name, changeable);
      }
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await jsm.streams.add(config);
        return;
      } catch (addErr) {
        // Another process created it between our info and add: go round once more.
        if (attempt >= 2) throw addErr;
      }
    }
  }
}

/** Creates a durable consumer or updates the settings that may change. */
export async function declareConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig> & { durable_name: string },
): Promise<void> {
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
        if (attempt >= 2) throw addErr;
      }
    }
  }
}

/** Declares the streams every service relies on. Each service calls it at start-up. */
export async function declareStreams(jsm: JetStreamManager, topology: Topology): Promise<void> {
  for (const stream of Object.values(topology.streams)) await declareStream(jsm, stream);
}

export interface BucketSpec {
  name: string;
  history: number;
  /** Entries expire after this many ms (leases). */
  ttl?: number;
}

/** Opens (creating when missing) one of the topology's KV buckets. */
export async function openBucket(kvm: Kvm, spec: BucketSpec): Promise<KV> {
  return kvm.create(spec.name, { history: spec.history, ...(spec.ttl !== undefined ? { ttl: spec.ttl } : {}) });
}

export async function openConfigBucket(kvm: Kvm, topology: Topology): Promise<KV> {
  return openBucket(kvm, topology.buckets.config);
}

export function isNotFound(err: unknown): boolean {
  if (err instanceof JetStreamApiError) {
    // `code` is JetStream's API error code (10059 stream, 10014 consumer not found), `status` the HTTP-like one.
    return err.status === 404 || err.code === 10059 || err.code === 10014 || /not found/i.test(err.message);
  }
  return err instanceof Error && /not found/i.test(err.message);
}

function differs(current: object, wanted: object): boolean {
  const cur = current as Record<string, unknown>;
  return Object.entries(wanted).some(([k, v]) => JSON.stringify(cur[k]) !== JSON.stringify(v));
}
