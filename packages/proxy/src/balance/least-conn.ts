/**
 * Least connections: the candidate with the fewest sessions per unit of weight; ties go round robin so equal
 * servers share new connections. haproxy: configuration.txt "balance leastconn".
 */
import type { Server } from '../server.ts';
import type { Balancer } from './balancer.ts';

export class LeastConn implements Balancer {
  private turn = 0;

  pick(candidates: readonly Server[]): Server | null {
    const n = candidates.length;
    if (n === 0) return null;
    this.turn = (this.turn + 1) % n;
    let best: Server | null = null;
    let bestLoad = Infinity;
    for (let i = 0; i < n; i++) {
      const s = candidates[(this.turn + i) % n] as Server;
      const load = (s.cur + 1) / s.weight;
      if (load < bestLoad) {
        best = s;
        bestLoad = load;
      }
    }
    return best;
  }
}
