// The mirrored-queue fault test on real processes (fault-scenario.ts): three brokers in network namespaces, a
// confirmed producer and an acking consumer that follow the live nodes, a few seeded faults (kill -9 and restart,
// SIGSTOP/SIGCONT, a node cut off by its link or by nftables), then heal, restart every node, drain, and check that
// no confirmed message was lost. The seed is printed; WARREN_FAULT_SEED=N replays it, and
// WARREN_FAULT_PARTITION_HANDLING picks cluster_partition_handling. Longer runs: test/cluster/fault-run.ts.
// Skipped with a message when not root or without ip netns / nft.
import { afterAll, describe, expect, it } from 'vitest';
import { randomInt } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { labUnavailable } from '../vrrp/lab.ts';
import { CI_SCHEDULE } from './fault-schedule.ts';
import { formatReport, runFaults, type PartitionHandling } from './fault-scenario.ts';
import type { FaultLab } from './fault-lab.ts';

const why = labUnavailable() ?? (spawnSync('nft', ['--version']).status !== 0 ? 'nft is not installed' : undefined);
if (why) console.log(`mirrored-queue fault test SKIPPED: ${why}`);

const seed = Number(process.env['WARREN_FAULT_SEED'] ?? randomInt(1, 2 ** 31));
const mode = (process.env['WARREN_FAULT_PARTITION_HANDLING'] ?? 'pause_minority') as PartitionHandling;

describe.skipIf(why !== undefined)('mirrored queue under faults (real processes, network namespaces)', () => {
  let lab: FaultLab | undefined;
  afterAll(async () => {
    // runFaults tears down itself; this is for a run the test timeout cut short
    await lab?.down(true);
  }, 30_000);

  it(`seed ${seed}, ${mode}: no confirmed message is lost across kills, hangs and partitions`, async () => {
    const report = await runFaults({
      seed,
      schedule: CI_SCHEDULE,
      partitionHandling: mode,
      subnet: 71,
      tag: 'ft',
      // as it happens: a run cut short by the timeout still shows how far it got
      log: (l) => console.log(l),
      onLab: (l) => (lab = l),
    });
    console.log(`===== fault report =====\n${formatReport(report)}`);
    expect(report.lost.length, `confirmed but never delivered (${report.lostRuns.join("; ")}); replay with WARREN_FAULT_SEED=${seed}`).toBe(0);
    expect(report.problems).toEqual([]);
    expect(report.confirmed).toBeGreaterThan(0);
  }, 150_000);
});
