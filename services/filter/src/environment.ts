import { Type } from '@sinclair/typebox';
import { BaseEnvironment, Port, loadEnvironment } from '@inkstream/service-kit';
import { DEFAULT_MAX_PROFILE_BYTES } from '@inkstream/sync-routing';
import { DEFAULT_MAX_WORKING_BYTES } from './work-gate.js';

export const FilterEnvironment = Type.Object({
  ...BaseEnvironment,
  FILTER_PORT: Port(8082),
  FILTER_MAX_IN_FLIGHT: Type.Integer({
    // 64, not 512: a saturated filter holding fewer messages keeps their records young (less
    // GC promotion) and answers sooner; six alternating bench pairs (README, Performance).
    default: 64,
    minimum: 1,
    maximum: 10_000,
    description: 'Ingest messages (segments) a partition consumer holds at once, received and not yet acknowledged (its max_ack_pending)',
  }),
  FILTER_MAX_WORKING_BYTES: Type.Integer({
    // 256 KiB: in `npm run bench` a replica spent 10-25 % less CPU per payload than when it parsed
    // everything its consumers held; 64 KiB cost the filter a little less alone but nats-server
    // more (smaller writes), and delivered less in 3 of 4 pairs (README, Performance). A larger
    // message is worked alone.
    default: DEFAULT_MAX_WORKING_BYTES,
    minimum: 1_024,
    maximum: 1024 * 1024 * 1024,
    description: 'Bytes of ingest messages a replica works at once (parsed, routed, publishing), across its partitions; the other messages its consumers hold wait unparsed',
  }),
  FILTER_PROFILE_CACHE_SIZE: Type.Integer({ default: 100_000, minimum: 0, description: 'User profiles kept in memory' }),
  FILTER_PROFILE_CACHE_BYTES: Type.Integer({
    default: 32 * 1024 * 1024,
    minimum: 0,
    description: 'Bytes of user profiles kept in memory, counted as their JSON size',
  }),
  FILTER_PROFILE_PENDING_BYTES: Type.Integer({
    default: 16 * 1024 * 1024,
    minimum: 65_536,
    maximum: 1024 * 1024 * 1024,
    description: 'Bytes of user profiles (their JSON) staged and not yet written to KV; over it processing waits for the writes',
  }),
  FILTER_PROCESSED_PER_PARTITION: Type.Integer({
    default: 125_000,
    minimum: 100,
    maximum: 10_000_000,
    description: 'Processed events remembered per partition for the ingest dedup window (about 24 bytes of memory each); over it the oldest are forgotten',
  }),
  FILTER_PROFILE_MAX_BYTES: Type.Integer({
    default: DEFAULT_MAX_PROFILE_BYTES,
    minimum: 4_096,
    description: "Largest stored user profile (JSON bytes); must fit the NATS server's max_payload less 4 KiB and the processed event keys (at most 15 KiB)",
  }),
});

export const loadFilterEnvironment = () => loadEnvironment('filter', FilterEnvironment);
