import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Integration tests use the real NATS (and Postgres): generous limits, no timing assertions.
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
