import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Integration tests talk to the real Postgres and NATS; generous limits for slow machines.
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
