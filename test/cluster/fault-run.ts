// Soak run of the mirrored-queue fault scenario (see fault-scenario.ts), as root:
//
//   node --conditions=warren-source --import tsx test/cluster/fault-run.ts [--seed N] [--faults 30] [--mode ignore|pause_minority|autoheal]
//        [--kinds kill,stop,isolate,split] [--subnet 72] [--keep] [--ci]
//
// The seed defaults to WARREN_FAULT_SEED or a random one, and is printed first: the same seed replays the same
// schedule. Exit status 1 when a confirmed message was lost or the cluster did not recover; data directories and
// broker logs (with the fault timeline marked in them) are kept then.
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { labUnavailable } from '../vrrp/lab.ts';
import { CI_SCHEDULE, SOAK_SCHEDULE, type FaultKind } from './fault-schedule.ts';
import { formatReport, runFaults, type PartitionHandling } from './fault-scenario.ts';
import type { FaultLab } from './fault-lab.ts';

const { values: v } = parseArgs({
  options: {
    seed: { type: 'string' },
    faults: { type: 'string' },
    mode: { type: 'string', default: 'ignore' },
    kinds: { type: 'string' },
    subnet: { type: 'string', default: '72' },
    keep: { type: 'boolean', default: false },
    ci: { type: 'boolean', default: false },
  },
});

const why = labUnavailable();
if (why) {
  console.error(`fault-run: cannot run here: ${why}`);
  process.exit(2);
}
const seed = Number(v.seed ?? process.env['WARREN_FAULT_SEED'] ?? randomInt(1, 2 ** 31));
const mode = v.mode as PartitionHandling;
if (!['ignore', 'pause_minority', 'autoheal'].includes(mode)) throw new Error(`--mode: ${mode}`);
// --ci: the schedule of fault.test.ts, to replay a seed it failed with
const base = v.ci === true ? CI_SCHEDULE : SOAK_SCHEDULE;
const schedule = { ...base, faults: Number(v.faults ?? base.faults) };
if (v.kinds) schedule.kinds = v.kinds.split(',') as FaultKind[];

let lab: FaultLab | undefined;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`fault-run: ${sig}, tearing the lab down (seed ${seed})`);
    void (lab?.down(true) ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

const report = await runFaults({
  seed,
  schedule,
  partitionHandling: mode,
  subnet: Number(v.subnet),
  tag: 'fr',
  keep: v.keep === true,
  log: (l) => console.log(l),
  onLab: (l) => (lab = l),
});
console.log(`\n===== fault report =====\n${formatReport(report)}`);
process.exit(report.lost.length > 0 || report.problems.length > 0 ? 1 : 0);
