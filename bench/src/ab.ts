/**
 * Interleaved A/B of two Warren checkouts on this host: the mirrored-queue throughput scenario (3-node cluster, 1 KB
 * persistent, confirms, acks) and the same load on a single node, with both checkouts' clusters and single nodes up
 * side by side and short runs alternating between them. On a shared, noisy machine, slow changes in the load hit both
 * sides alike, so the paired ratios show a difference of a few per cent that separate bench runs cannot.
 *
 *   npm run bench:ab -- --base DIR [--reps N] [--time SEC] [--warmup SEC] [--no-single]
 *
 * DIR is another checkout with its own node_modules (for example `git worktree add /tmp/base HEAD~1 && (cd /tmp/base
 * && npm install)`); it is side A, this checkout side B. Each checkout runs its own broker binary; the load generator
 * is this checkout's. Prints every pair, the medians, and the median of B/A over the pairs.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Cluster } from './cluster3.ts';
import type { RunningBroker } from './brokers.ts';
import { repoRoot, runPerf } from './perf.ts';
import { PERSISTENT_1KB_CONFIRM_LOAD } from './scenarios.ts';
import { defaultPerfOptions } from './types.ts';

interface Args {
  base: string;
  reps: number;
  time: number;
  warmup: number;
  single: boolean;
}

const help = `usage: npm run bench:ab -- --base DIR [--reps N] [--time SEC] [--warmup SEC] [--no-single]
  --base DIR     the other checkout (side A); this one is side B
  --reps N       pairs of runs per setup (default 8)
  --time SEC     measured seconds per run (default 4), after --warmup SEC (default 1)
  --no-single    only the 3-node mirrored setup`;

function parseArgs(argv: string[]): Args {
  const a: Args = { base: '', reps: 8, time: 4, warmup: 1, single: true };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${k} takes a positive number`);
      return v;
    };
    if (k === '--base') a.base = resolve(argv[++i] ?? '');
    else if (k === '--reps') a.reps = Math.round(num());
    else if (k === '--time') a.time = num();
    else if (k === '--warmup') a.warmup = num();
    else if (k === '--no-single') a.single = false;
    else if (k === '--help' || k === '-h') {
      console.log(help);
      process.exit(0);
    } else throw new Error(`unknown option ${k}\n${help}`);
  }
  if (a.base === '' || !existsSync(join(a.base, 'bench', 'src', 'cluster3.ts'))) throw new Error(`--base must name another Warren checkout\n${help}`);
  if (!existsSync(join(a.base, 'node_modules'))) throw new Error(`${a.base} has no node_modules: run npm install there first`);
  return a;
}

interface Side {
  name: 'A' | 'B';
  cluster: Cluster;
  single: RunningBroker | undefined;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const sides: Side[] = [];
  const log = (s: string): void => console.log(`${new Date().toISOString().slice(11, 19)} ${s}`);
  try {
    for (const [name, dir] of [['A', a.base], ['B', repoRoot]] as const) {
      // each checkout's own cluster and broker code (their binaries resolve from their own tree)
      const c3 = (await import(join(dir, 'bench', 'src', 'cluster3.ts'))) as typeof import('./cluster3.ts');
      const br = (await import(join(dir, 'bench', 'src', 'brokers.ts'))) as typeof import('./brokers.ts');
      const cluster = await c3.startWarrenCluster(() => {});
      const side: Side = { name, cluster, single: undefined };
      sides.push(side);
      if (a.single) side.single = await br.startWarren({});
      log(`side ${name}: ${dir}`);
    }
    const rates: Record<string, number[]> = { 'A mirrored': [], 'B mirrored': [], 'A single': [], 'B single': [] };
    const run = async (uri: string, pid: number | undefined): Promise<number> => {
      const r = await runPerf({
        ...defaultPerfOptions,
        // the load of bench:mirrored's throughput runs
        ...PERSISTENT_1KB_CONFIRM_LOAD,
        uri,
        queue: 'ha.perf',
        durationSec: a.time,
        warmupSec: a.warmup,
        ...(pid !== undefined ? { brokerPid: pid } : {}),
        timeoutSec: a.time + a.warmup + 60,
      });
      if (!r.ok) throw new Error(`run failed: ${r.error ?? ''}`);
      return r.receivedRate;
    };
    for (let r = 0; r < a.reps; r++) {
      // which side goes first alternates, so a trend in the machine's load favours neither
      const order = r % 2 === 0 ? sides : [...sides].reverse();
      const line: string[] = [];
      for (const s of order) {
        const master = s.cluster.nodes[1]!;
        const v = await run(master.uri, master.vmPid());
        rates[`${s.name} mirrored`]!.push(v);
        line.push(`${s.name} mirrored ${(v / 1000).toFixed(1)}k`);
      }
      if (a.single) {
        for (const s of order) {
          const v = await run(s.single!.uri, s.single!.pid);
          rates[`${s.name} single`]!.push(v);
          line.push(`${s.name} single ${(v / 1000).toFixed(1)}k`);
        }
      }
      log(`pair ${r + 1}: ${line.join(', ')}`);
    }
    const paired = (k: string): string => {
      const ra = rates[`A ${k}`]!;
      const rb = rates[`B ${k}`]!;
      const p = rb.map((v, i) => v / ra[i]!);
      return `${k}: A ${(median(ra) / 1000).toFixed(1)}k, B ${(median(rb) / 1000).toFixed(1)}k msg/s (medians); B/A paired median ${median(p).toFixed(3)} (${p.map((x) => x.toFixed(2)).join(' ')}), B faster in ${p.filter((x) => x > 1).length} of ${p.length}`;
    };
    console.log(paired('mirrored'));
    if (a.single) {
      console.log(paired('single'));
      for (const s of ['A', 'B']) console.log(`${s}: mirrored / single ${(median(rates[`${s} mirrored`]!) / median(rates[`${s} single`]!)).toFixed(3)}`);
    }
  } finally {
    for (const s of sides) {
      await s.cluster.stop().catch(() => undefined);
      await s.single?.stop().catch(() => undefined);
    }
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error((e as Error).message);
    process.exit(1);
  },
);
