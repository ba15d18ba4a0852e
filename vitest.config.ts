import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Multi-process tests start brokers and network namespaces; two cores cannot run many at once.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
