export * from './endpoint-guard.js';
