import { Counter, type Registry } from '@inkstream/service-kit';

export type FilterMetrics = ReturnType<typeof createFilterMetrics>;

export function createFilterMetrics(registry: Registry) {
  return {
    records: new Counter({
      name: 'inkstream_filter_records_total',
      help: 'Ingested events and identifications processed by the filter',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    payloads: new Counter({
      name: 'inkstream_filter_payloads_total',
      help: 'Payloads by sync, type and outcome (queued for delivery or discarded with a reason)',
      labelNames: ['sync', 'type', 'outcome', 'reason'] as const,
      registers: [registry],
    }),
    deliverySegments: new Counter({
      name: 'inkstream_filter_delivery_segments_total',
      help: 'Delivery segments (v2 messages of payloads of one sync and partition) stored on the delivery stream',
      registers: [registry],
    }),
    publishRetries: new Counter({
      name: 'inkstream_filter_publish_retries_total',
      help: 'Publishes to the delivery stream that failed and were retried',
      registers: [registry],
    }),
    stepRetries: new Counter({
      name: 'inkstream_filter_step_retries_total',
      help: 'Failed steps retried while holding the user, by step (load, publish, save)',
      labelNames: ['step'] as const,
      registers: [registry],
    }),
    traitsDropped: new Counter({
      name: 'inkstream_filter_profile_traits_dropped_total',
      help: 'User properties dropped to keep a profile within FILTER_PROFILE_MAX_BYTES (largest first)',
      registers: [registry],
    }),
    recordsDropped: new Counter({
      name: 'inkstream_filter_records_dropped_total',
      help: 'Ingested records the filter could not process and terminated, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    recordsDuplicate: new Counter({
      name: 'inkstream_filter_records_duplicate_total',
      help: 'Ingested records skipped because the same event of the same user was processed within the dedup window (a retry that regrouped events, or a redelivered segment)',
      registers: [registry],
    }),
    segments: new Counter({
      name: 'inkstream_filter_segments_total',
      help: 'Ingest stream messages (v2 segments and v1 records) the filter finished, by result (acked, or given back to be redelivered)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    messagesOverdue: new Counter({
      name: 'inkstream_filter_messages_overdue_total',
      help: 'Ingest messages worked longer than 1 s (a user stuck behind a failing step, or waiting behind one), which then stopped counting against FILTER_MAX_WORKING_BYTES',
      registers: [registry],
    }),
    profileConflicts: new Counter({
      name: 'inkstream_filter_profile_conflicts_total',
      help: 'Profile writes refused because another replica wrote the profile since this one read it (its records are naked and come back)',
      registers: [registry],
    }),
    profilesUnreadable: new Counter({
      name: 'inkstream_filter_profiles_unreadable_total',
      help: 'Stored profiles that were not JSON and were started afresh',
      registers: [registry],
    }),
  };
}
