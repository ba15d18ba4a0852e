/**
 * Load-balancing algorithms (haproxy: configuration.txt "balance"). A balancer picks among the servers the backend
 * says are usable and not full; it keeps only its own rotation state.
 */
import type { BalanceAlgorithm } from '../config/types.ts';
import type { Server } from '../server.ts';
import { First } from './first.ts';
import { LeastConn } from './least-conn.ts';
import { RoundRobin } from './round-robin.ts';
import { SourceHash } from './source-hash.ts';

export interface Balancer {
  pick(candidates: readonly Server[], clientAddress: string): Server | null;
}

export function createBalancer(algorithm: BalanceAlgorithm): Balancer {
  switch (algorithm) {
    case 'roundrobin':
    case 'static-rr':
      return new RoundRobin();
    case 'leastconn':
      return new LeastConn();
    case 'first':
      return new First();
    case 'source':
      return new SourceHash();
  }
}
