export * from './amplitude-event.js';
export * from './ingested-record.js';
export * from './sync.js';
export * from './config-snapshot.js';
export * from './delivery-job.js';
export * from './movable-ink-payload.js';
export * from './delivery-outcome.js';
export * from './event-key.js';
