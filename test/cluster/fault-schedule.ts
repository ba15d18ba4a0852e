// A seeded fault schedule for the mirrored-queue fault test: the same seed gives the same list of faults, so a failing
// run is replayed with WARREN_FAULT_SEED (or --seed). Pure code: no processes, no clock.

/** The cluster's nodes by role: n1 is the disc node, n2 and n3 ram nodes (the seeds' layout). */
export const NODES = ['n1', 'n2', 'n3'] as const;
export type NodeName = (typeof NODES)[number];

/**
 * kill     kill -9, restarted after `holdMs`
 * stop     SIGSTOP, SIGCONT after `holdMs` (a hung node: its sockets stay open)
 * isolate  the node's bridge port goes down: cut from peers and clients alike
 * split    nftables drops between `group` and the other nodes; clients still reach every node
 */
export type FaultKind = 'kill' | 'stop' | 'isolate' | 'split';

export interface Fault {
  kind: FaultKind;
  /** a node, or 'master': the queue's master when the fault starts (looked up at run time) */
  target: NodeName | 'master';
  holdMs: number;
  /** pause after the fault is healed and the cluster is whole again, before the next one */
  gapMs: number;
}

/** mulberry32: small, fast, and the same sequence everywhere for a 32-bit seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ScheduleOptions {
  faults: number;
  /** bounds for how long a fault lasts */
  minHoldMs: number;
  maxHoldMs: number;
  minGapMs: number;
  maxGapMs: number;
  kinds?: readonly FaultKind[];
}

export const CI_SCHEDULE: ScheduleOptions = { faults: 3, minHoldMs: 3000, maxHoldMs: 6000, minGapMs: 1500, maxGapMs: 3000 };
export const SOAK_SCHEDULE: ScheduleOptions = { faults: 30, minHoldMs: 2000, maxHoldMs: 12_000, minGapMs: 1000, maxGapMs: 6000 };

export function makeSchedule(seed: number, o: ScheduleOptions): Fault[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const between = (lo: number, hi: number): number => Math.round(lo + rnd() * (hi - lo));
  const kinds = o.kinds ?? (['kill', 'stop', 'isolate', 'split'] as const);
  const out: Fault[] = [];
  for (let i = 0; i < o.faults; i++) {
    // the master half of the time: failovers are what confirms must survive
    const target = rnd() < 0.5 ? 'master' : pick(NODES);
    out.push({ kind: pick(kinds), target, holdMs: between(o.minHoldMs, o.maxHoldMs), gapMs: between(o.minGapMs, o.maxGapMs) });
  }
  return out;
}

export function describeFault(f: Fault): string {
  return `${f.kind} ${f.target} for ${(f.holdMs / 1000).toFixed(1)}s`;
}
