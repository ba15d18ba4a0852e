/**
 * First available: the first server in declaration order that still has a free slot (its maxconn), so servers
 * beyond the first stay idle until it is full. haproxy: configuration.txt "balance first".
 * The backend has already removed full servers from the candidates, so the first candidate is the answer.
 */
import type { Server } from '../server.ts';
import type { Balancer } from './balancer.ts';

export class First implements Balancer {
  pick(candidates: readonly Server[]): Server | null {
    return candidates[0] ?? null;
  }
}
