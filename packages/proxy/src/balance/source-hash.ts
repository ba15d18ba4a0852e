/**
 * Source address hashing: the same client address lands on the same server while the set of usable servers does not
 * change (map-based, weight-aware). haproxy: configuration.txt "balance source" with `hash-type map-based`.
 */
import type { Server } from '../server.ts';
import type { Balancer } from './balancer.ts';

export class SourceHash implements Balancer {
  pick(candidates: readonly Server[], clientAddress: string): Server | null {
    let total = 0;
    for (const s of candidates) total += s.weight;
    if (total === 0) return null;
    let slot = fnv1a(clientAddress) % total;
    for (const s of candidates) {
      if (slot < s.weight) return s;
      slot -= s.weight;
    }
    return null;
  }
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
