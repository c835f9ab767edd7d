import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000, // a busy machine stretches real processes and restarts; a hang still fails
    hookTimeout: 60_000,
    // suites open real sockets; a few files at a time keeps a 2-core machine responsive
    maxWorkers: 2,
  },
});
