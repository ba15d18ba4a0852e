// Seeded chaos for the metadata Raft: 3-5 nodes (disc voters and ram learners) under crashes and restarts (ram
// nodes lose their log), partitions, loss, duplication, delay and reordering, and membership changes. After every
// schedule: election safety, log matching, leader completeness, state machine safety, linearizable read barriers,
// and that every acknowledged proposal is applied on every node once the network heals and everyone is back.
//
//   RAFT_SIM_SCHEDULES=5000 npx vitest run test/cluster/raft-sim   thousands of schedules
//   RAFT_SIM_SEED=1234 npx vitest run test/cluster/raft-sim        replay one seed (prints its trace on failure)
//   RAFT_SIM_TRACE=1 RAFT_SIM_SEED=1234 ...                         and print every trace line as it happens
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStorage, MemoryStorage } from '../../packages/broker/src/cluster/raft/index.ts';
import { RaftSim, type SimKind } from '../../packages/broker/src/cluster/raft/testing.ts';
import { SeededRandom } from '@warren/cluster-peer';

const SCHEDULES = Number(process.env.RAFT_SIM_SCHEDULES ?? 500);
const ONLY_SEED = process.env.RAFT_SIM_SEED === undefined ? undefined : Number(process.env.RAFT_SIM_SEED);

interface Outcome {
  violations: string[];
  trace: string[];
  acked: number;
  messages: number;
  leaders: number;
  duplicates: number;
  reads: number;
}

/** One schedule. With `dir`, disc nodes keep their log in FileStorage under it (reopened after each crash). */
export async function schedule(seed: number, dir?: string, keepTrace = false): Promise<Outcome> {
  const dice = new SeededRandom(seed * 2654435761);
  const pick = <T>(xs: readonly T[]): T => xs[dice.uint32() % xs.length]!;
  // Topology: 3-5 nodes, 1-3 of them ram learners (at least one disc node).
  const size = 3 + (dice.uint32() % 3);
  const ramCount = dice.uint32() % Math.min(3, size - 1 + 1);
  const specs = Array.from({ length: size }, (_, i) => ({ id: `n${i + 1}`, kind: (i >= size - ramCount ? 'ram' : 'disc') as SimKind }));
  const disc = specs.filter((s) => s.kind === 'disc').map((s) => s.id);
  const ram = specs.filter((s) => s.kind === 'ram').map((s) => s.id);
  const electionMin = 100 + (dice.uint32() % 200);
  const sim = new RaftSim({
    seed,
    nodes: specs,
    // Disc nodes bootstrap as voters; ram nodes start empty and are added as learners below.
    bootstrap: { voters: disc, learners: [] },
    ...(dir === undefined
      ? {}
      : {
          storage: (id: string, kind: SimKind) => (kind === 'disc' ? new FileStorage(join(dir, `${seed}-${id}`), { fsync: false }) : new MemoryStorage()),
          reopen: (id: string) => new FileStorage(join(dir, `${seed}-${id}`), { fsync: false }),
        }),
    raft: {
      snapshotThreshold: 5 + (dice.uint32() % 30),
      proposeTimeoutMs: 3000,
      // Timing varies per seed: tight election ranges give split votes; one-entry batches let old-term entries
      // reach followers apart from the new leader's no-op (the Figure 8 situation).
      electionTimeoutMinMs: electionMin,
      electionTimeoutMaxMs: electionMin + 10 + (dice.uint32() % 300),
      heartbeatMs: 20 + (dice.uint32() % (electionMin / 2)),
      maxBatchEntries: dice.float() < 0.5 ? 1 + (dice.uint32() % 4) : 256,
    },
  });
  if (ONLY_SEED !== undefined || keepTrace) sim.traceLimit = 1_000_000;
  if (process.env.RAFT_SIM_TRACE !== undefined) sim.echoTrace = true;
  for (const s of specs) sim.start(s.id);
  let counter = 0;
  const command = (): string => `s${seed}-c${++counter}`;
  // Add the ram nodes as learners through whoever is leader.
  await sim.runUntil(() => sim.leader() !== undefined, 5000);
  for (const id of ram) {
    const l = sim.leader();
    if (l !== undefined) await Promise.race([l.addLearner(id).catch(() => undefined), sim.run(1500)]);
  }

  const steps = 40 + (dice.uint32() % 40);
  for (let step = 0; step < steps; step++) {
    // Mostly calm steps, sometimes a storm of events a few milliseconds apart (crashes in mid-election).
    await sim.run(dice.float() < 0.25 ? 1 + (dice.uint32() % 20) : 10 + (dice.uint32() % 250), 25);
    const roll = dice.uint32() % 100;
    const ups = sim.upIds();
    if (roll < 40) {
      for (let k = 1 + (dice.uint32() % 3); k > 0 && ups.length > 0; k--) sim.propose(pick(ups), command());
      if (ups.length > 0 && dice.float() < 0.3) sim.readBarrier(pick(ups));
    } else if (roll < 50) {
      // Crash someone; half the time the leader.
      const leader = sim.leader()?.id;
      if (leader !== undefined && dice.float() < 0.5) sim.crash(leader);
      else if (ups.length > 0) sim.crash(pick(ups));
    } else if (roll < 62) {
      const downs = [...sim.nodes.values()].filter((n) => !n.up).map((n) => n.id);
      if (downs.length > 0) sim.start(pick(downs));
    } else if (roll < 70) {
      const ids = [...sim.nodes.keys()];
      const leader = sim.leader()?.id;
      // Half the time isolate the leader (with its proposals in flight), alone or with one other node.
      const side = leader !== undefined && dice.float() < 0.5
        ? [leader, ...(dice.float() < 0.5 ? [pick(ids)] : [])]
        : ids.filter(() => dice.float() < 0.5);
      const rest = ids.filter((id) => !side.includes(id));
      if (dice.float() < 0.3 && ids.length >= 3) {
        // Three-way split.
        const third = rest.filter(() => dice.float() < 0.5);
        sim.partition([side, third, rest.filter((id) => !third.includes(id))]);
      } else {
        sim.partition([side, rest]);
      }
    } else if (roll < 80) {
      sim.heal();
    } else if (roll < 90) {
      sim.loss = dice.float() < 0.5 ? 0 : dice.float() * 0.3;
      sim.duplicate = dice.float() < 0.5 ? 0 : dice.float() * 0.2;
      sim.maxDelayMs = dice.float() < 0.7 ? 5 : 5 + (dice.uint32() % 300);
    } else if (roll < 96) {
      // Membership: demote or promote a disc node (disc nodes keep their storage, so either role is safe for
      // them); sometimes try to demote the last voter, which must be refused.
      if (ups.length > 0) {
        const node = pick(ups);
        const target = pick(disc);
        const isVoter = sim.raft(node).membership().voters.includes(target);
        sim.raft(node).changeMembership(target, isVoter ? 'learner' : 'voter').then(
          () => sim.note(`membership ${target} -> ${isVoter ? 'learner' : 'voter'} done`),
          (e: Error) => sim.note(`membership ${target} change failed: ${e.message}`),
        );
      }
    } else {
      // Restart a node in place (crash + immediate start).
      if (ups.length > 0) sim.restart(pick(ups));
    }
    if (step % 10 === 0) sim.checkLogMatching();
  }

  // Calm: heal, perfect network, everyone back; then wait for one more proposal to be applied everywhere.
  sim.heal();
  sim.loss = 0;
  sim.duplicate = 0;
  sim.maxDelayMs = 5;
  for (const id of sim.nodes.keys()) sim.start(id);
  await sim.run(3000);
  let done = false;
  for (let attempt = 0; attempt < 10 && !done; attempt++) {
    const rec = sim.propose(pick(sim.upIds()), `s${seed}-final${attempt}`);
    await sim.runUntil(() => rec.outcome !== 'pending', 10_000);
    done = rec.outcome === 'ok';
  }
  if (!done) sim.violation('liveness: no proposal committed after healing');
  const target = Math.max(...[...sim.nodes.values()].map((n) => n.raft?.inspect().commitIndex ?? 0));
  const caughtUp = await sim.runUntil(() => [...sim.nodes.values()].every((n) => n.raft !== undefined && n.raft.inspect().lastApplied >= target), 10_000);
  if (!caughtUp) sim.violation(`liveness: not every node applied up to ${target} after healing`);
  await sim.run(500);
  sim.checkLogMatching();
  sim.checkConvergence();
  // Pending proposals are settled by the time the runs above end (propose timeout 3 s).
  const acked = sim.proposals.filter((p) => p.outcome === 'ok').length;
  const outcome = { violations: sim.violations, trace: keepTrace ? sim.trace : sim.traceAtFirstViolation, acked, messages: sim.messages, leaders: sim.leaders.size, duplicates: sim.duplicateApplies, reads: sim.reads };
  for (const n of sim.nodes.values()) n.raft?.stop();
  return outcome;
}

describe('raft simulation', () => {
  it(`${ONLY_SEED !== undefined ? `seed ${ONLY_SEED}` : `${SCHEDULES} seeded schedules`} keep the Raft invariants`, async () => {
    const seeds = ONLY_SEED !== undefined ? [ONLY_SEED] : Array.from({ length: SCHEDULES }, (_, i) => i + 1);
    let acked = 0;
    let messages = 0;
    let leaders = 0;
    let duplicates = 0;
    let reads = 0;
    const started = performance.now();
    for (const seed of seeds) {
      const outcome = await schedule(seed);
      if (outcome.violations.length > 0) {
        const detail = [`seed ${seed} failed (replay: RAFT_SIM_SEED=${seed} npx vitest run test/cluster/raft-sim)`, ...outcome.violations.slice(0, 10)];
        if (ONLY_SEED !== undefined) detail.push('trace (most recent last):', ...outcome.trace.slice(-200));
        expect.fail(detail.join('\n'));
      }
      acked += outcome.acked;
      messages += outcome.messages;
      leaders += outcome.leaders;
      duplicates += outcome.duplicates;
      reads += outcome.reads;
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`raft-sim: ${seeds.length} schedules, ${acked} acknowledged proposals, ${reads} linearizable reads, ${leaders} elected leaders, ${messages} messages, ${duplicates} commands applied twice, in ${seconds} s`);
    expect(acked).toBeGreaterThan(seeds.length);
  }, 600_000);

  it('schedules with disc nodes on FileStorage keep the invariants across crashes and reopening', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raft-sim-'));
    try {
      const count = Math.max(5, Math.floor(SCHEDULES / 10));
      for (let seed = 100_001; seed < 100_001 + count; seed++) {
        const outcome = await schedule(seed, dir);
        if (outcome.violations.length > 0) expect.fail([`seed ${seed} (file storage) failed`, ...outcome.violations.slice(0, 10)].join('\n'));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it('a seed replays identically', async () => {
    const first = await schedule(7, undefined, true);
    const second = await schedule(7, undefined, true);
    expect(first.trace.length).toBeGreaterThan(100);
    expect(second.trace).toEqual(first.trace);
  });
});
