import { describe, expect, it } from 'vitest';
import { createTopology, OWNERS, type ServiceName } from './topology.js';

describe('topology: copies and owners', () => {
  it('puts NATS_REPLICAS on every stream and bucket', () => {
    const topology = createTopology({ replicas: 3 });
    for (const stream of Object.values(topology.streams)) expect(stream.num_replicas, stream.name).toBe(3);
    for (const bucket of Object.values(topology.buckets)) expect(bucket.replicas, bucket.name).toBe(3);
    expect(createTopology().streams.ingest.num_replicas).toBe(1);
  });

  it.each([0, 6, 2.5, Number.NaN])('refuses %s copies', (replicas) => {
    expect(() => createTopology({ replicas })).toThrow(/replicas must be a whole number from 1 to 5/);
  });

  const services: ServiceName[] = ['ingest', 'filter', 'delivery', 'config'];
  it.each(services)('%s owns exactly its streams and buckets', (service) => {
    const topology = createTopology({ service });
    for (const [key, owner] of Object.entries(OWNERS.streams)) {
      expect(topology.ownsStream(key as keyof typeof OWNERS.streams), key).toBe(owner === service);
    }
    for (const [key, owner] of Object.entries(OWNERS.buckets)) {
      expect(topology.buckets[key as keyof typeof OWNERS.buckets].owned, key).toBe(owner === service);
    }
  });

  it('every stream and bucket has exactly one owner; without a service, one owns all', () => {
    const all = createTopology();
    expect(Object.keys(OWNERS.streams).sort()).toEqual(Object.keys(all.streams).sort());
    expect(Object.keys(OWNERS.buckets).sort()).toEqual(Object.keys(all.buckets).sort());
    for (const bucket of Object.values(all.buckets)) expect(bucket.owned).toBe(true);
  });

  it("ties only the ingest stream's dedup window to INGEST_DEDUP_WINDOW_SECONDS", () => {
    const topology = createTopology({ dedupWindowSeconds: 60 });
    expect(topology.streams.ingest.duplicate_window).toBe(60e9);
    expect(topology.streams.delivery.duplicate_window).toBe(600e9);
    expect(topology.streams.deadLetters.duplicate_window).toBe(600e9);
  });
});
