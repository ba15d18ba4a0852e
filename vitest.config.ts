import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// The tests that run broker processes in network namespaces (kills, hangs, partitions) judge liveness by 1.2 s peer
// heartbeats: they run last and one file at a time, so the rest of the suite's load cannot pass for a dead node.
const NETNS = ['test/cluster/fault.test.ts', 'test/cluster/partition.test.ts', 'test/lab/lab.test.ts'];

// In this checkout @warren/* packages resolve to their TypeScript sources: their package.json exports carry a
// "warren-source" condition ahead of the compiled dist/ (see the root README, "Packages and the build").
const SOURCE_CONDITIONS = ['warren-source', ...defaultServerConditions];

export default defineConfig({
  resolve: { conditions: SOURCE_CONDITIONS },
  ssr: { resolve: { conditions: SOURCE_CONDITIONS, externalConditions: ['warren-source'] } },
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Multi-process tests start brokers and network namespaces; two cores cannot run many at once.
    maxWorkers: 2,
    minWorkers: 1,
    projects: [
      {
        extends: true,
        test: { name: 'main', include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'], exclude: NETNS, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'netns', include: NETNS, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
