import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // suites open real sockets; a few files at a time keeps a 2-core machine responsive
    maxWorkers: 2,
  },
});
