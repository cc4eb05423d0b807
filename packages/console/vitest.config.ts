import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The browser test starts the four services and Chromium: generous limits, never timing assertions.
    testTimeout: 300_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
