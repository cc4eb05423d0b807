import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**'],
    // Whole services start as processes: generous limits, never timing assertions.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    // One stack at a time keeps a 2-core machine responsive.
    fileParallelism: false,
  },
});
