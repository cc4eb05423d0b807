/**
 * Test fixtures of the contracts, for the tests of every package: `@inkstream/contracts/testing`.
 * Not part of the runtime entry (`@inkstream/contracts` never imports this folder).
 */
export * from './outcomes.js';
