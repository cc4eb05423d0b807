import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Integration tests use the real NATS (and real sockets): generous limits, no timing assertions.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // fuzz.test.ts compares heap use across runs of its corpus; a collectable heap makes that meaningful.
    execArgv: ['--expose-gc'],
    // One file at a time keeps a 2-core machine responsive and the heap comparison undisturbed.
    fileParallelism: false,
  },
});
