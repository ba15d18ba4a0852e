import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// `npm run test:unit`: the in-process unit tests beside the code (packages/*/src/**/*.test.ts) and the repository's
// own checks (test/tooling/), without sockets, child processes or brokers, so a change to routing, queues, confirms,
// the VRRP machine, the proxy's parsers or the peer codec is checked in well under a minute. `npm test` runs these
// and everything else (vitest.config.ts).
const SOURCE_CONDITIONS = ['warren-source', ...defaultServerConditions];

// Tests beside the code that are not unit tests: they start brokers, open TCP sockets or spawn processes.
const NOT_UNIT = [
  'packages/broker/src/cluster/raft/file-storage.test.ts', // kills a writer process with SIGKILL
  'packages/broker/src/store/definitions-store.test.ts', // mounts a tmpfs to fill the disc
  'packages/broker/src/queue/flow.test.ts', // publishers against a broker over TCP
  'packages/broker/src/server/queue-promote.test.ts', // brokers over TCP
  'packages/broker/src/testing.test.ts', // brokers over TCP
  'packages/cluster-peer/src/transport/conformance.test.ts', // runs the suite over TCP too
  'packages/cluster-peer/src/transport/tcp.test.ts',
  'packages/proxy/src/health/probe.test.ts', // probes a TCP server
  'packages/proxy/src/relay.test.ts', // relays over TCP
  'packages/vrrp/src/garp-helper.test.ts', // spawns the helper
  'packages/vrrp/src/ip-batch.test.ts', // spawns ip
];

export default defineConfig({
  resolve: { conditions: SOURCE_CONDITIONS },
  ssr: { resolve: { conditions: SOURCE_CONDITIONS, externalConditions: ['warren-source'] } },
  test: {
    name: 'unit',
    include: ['packages/*/src/**/*.test.ts', 'test/tooling/**/*.test.ts'],
    exclude: NOT_UNIT,
    testTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 2,
    minWorkers: 1,
  },
});
