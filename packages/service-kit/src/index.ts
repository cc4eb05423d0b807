export * from './environment.js';
export * from './logger.js';
export * from './metrics.js';
export * from './lifecycle.js';
export * from './server.js';
