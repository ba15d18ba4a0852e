/**
 * Weighted round robin, smooth variant: each pick adds every candidate's weight to its running score, takes the
 * highest, and subtracts the total from the winner. Weights 3:1 give A A B A rather than A A A B, which is what
 * haproxy's roundrobin (an ebtree keyed by weighted position) also achieves: interleaving, not bursts.
 * haproxy: configuration.txt "balance roundrobin" (weights are dynamic: `set weight` applies at once).
 */
import type { Server } from '../server.ts';
import type { Balancer } from './balancer.ts';

export class RoundRobin implements Balancer {
  private readonly score = new Map<Server, number>();

  pick(candidates: readonly Server[]): Server | null {
    let total = 0;
    let best: Server | null = null;
    let bestScore = -Infinity;
    for (const s of candidates) {
      const score = (this.score.get(s) ?? 0) + s.weight;
      this.score.set(s, score);
      total += s.weight;
      if (score > bestScore) {
        best = s;
        bestScore = score;
      }
    }
    if (best) this.score.set(best, bestScore - total);
    return best;
  }
}
