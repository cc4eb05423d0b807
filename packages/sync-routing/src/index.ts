export * from './compile-filters.js';
export * from './user-properties.js';
export * from './profile.js';
export * from './route-record.js';
export * from './profile-size.js';
export * from './hash.js';
export * from './segment-lines.js';
