/**
 * `npm run bench:mirrored` — mirrored queues, Warren vs RabbitMQ 3.10, on this machine.
 *
 *   npm run bench:mirrored                 full: throughput 5 x 10 s (+3 s warm-up); 5 kill -9 and 3 SIGSTOP failovers
 *   npm run bench:mirrored -- --quick      1 x 3 s (+1 s); 1 kill -9 and 1 SIGSTOP failover per broker
 *
 * 1. Throughput: 1 KB persistent messages, confirms (window 100), manual acks (prefetch 100), 1 producer and
 *    1 consumer (bench/src/perf.ts workers), on a 3-node Warren cluster with a mirrored queue (ha-all, automatic
 *    sync), a single Warren node (queue not mirrored) and a 3-node RabbitMQ cluster with the same policy;
 *    interleaved per repetition. Producer and consumer both talk to the queue's master node (node 2, a ram node).
 * 2. Failover (failover.ts): kill -9 and SIGSTOP of the master's process while a publisher (node 1) and a consumer
 *    (node 3) run; time to the first confirm and first delivery of a message published after the signal; lost
 *    confirmed messages. Warren and RabbitMQ alternate.
 *
 * Writes bench/results/mirrored-<quick|full>.{json,md}. All clusters run for the whole bench and are stopped (every
 * process killed, every temp dir removed) at the end, on error, on Ctrl-C and when the overall time limit passes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { rabbitmqVersion, startWarren, type RunningBroker } from './brokers.ts';
import { startRabbitmqCluster, startWarrenCluster, type Cluster } from './cluster3.ts';
import { FAILOVER_RATE, runFailover, type FailoverResult, type FailSignal } from './failover.ts';
import { headCommit, repoRoot, runPerf } from './perf.ts';
import { killAllSync, sleep } from './procs.ts';
import { quiet, sampleOne, settle } from './procstat.ts';
import { fmtNum, fmtStat, stat, type Stat } from './report.ts';
import { defaultPerfOptions, type PerfResult } from './types.ts';
import { PERSISTENT_1KB_CONFIRM_LOAD } from './scenarios.ts';

interface Args {
  quick: boolean;
  reps: number;
  durationSec: number;
  warmupSec: number;
  killReps: number;
  stopReps: number;
  capSec: number;
  throughput: boolean;
  failover: boolean;
  rabbitmq: boolean;
  warren: boolean;
  quietWaitSec: number;
  outDir: string;
  cpuProfDir?: string;
}

const help = `usage: npm run bench:mirrored -- [options]
  --quick            throughput 1 x 3 s (+1 s warm-up), 1 kill -9 and 1 SIGSTOP failover per broker
                     (default, full: 5 x 10 s (+3 s), 5 kill -9 and 3 SIGSTOP failovers per broker)
  --reps N --time SEC --warmup SEC     throughput repetitions, measured seconds, warm-up seconds
  --kill-reps N --stop-reps N          failover repetitions with kill -9 / SIGSTOP of the master
  --cap SEC          how long to wait for the first confirm / delivery after the signal (default 20)
  --only throughput|failover
  --no-rabbitmq | --no-warren
  --quiet-wait SEC   before each throughput run, wait up to SEC s for other work on the machine to stop
  --out DIR          where results go (default bench/results)
  --warren-cpu-prof DIR   run Warren's nodes (cluster and single) under node --cpu-prof, profiles written to DIR
                     when they stop`;

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      /* gone */
    }
  }
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    quick: false,
    reps: 5,
    durationSec: 10,
    warmupSec: 3,
    killReps: 5,
    stopReps: 3,
    capSec: 20,
    throughput: true,
    failover: true,
    rabbitmq: true,
    warren: true,
    quietWaitSec: 0,
    outDir: join(repoRoot, 'bench', 'results'),
  };
  const set: Partial<Record<'reps' | 'time' | 'warmup' | 'kill' | 'stop', number>> = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${k} needs a number`);
      return v;
    };
    switch (k) {
      case '--quick': a.quick = true; break;
      case '--full': a.quick = false; break;
      case '--reps': set.reps = num(); break;
      case '--time': set.time = num(); break;
      case '--warmup': set.warmup = num(); break;
      case '--kill-reps': set.kill = num(); break;
      case '--stop-reps': set.stop = num(); break;
      case '--cap': a.capSec = num(); break;
      case '--only': {
        const w = argv[++i];
        a.throughput = w === 'throughput';
        a.failover = w === 'failover';
        if (!a.throughput && !a.failover) throw new Error('--only takes throughput or failover');
        break;
      }
      case '--no-rabbitmq': a.rabbitmq = false; break;
      case '--no-warren': a.warren = false; break;
      case '--quiet-wait': a.quietWaitSec = num(); break;
      case '--out': a.outDir = argv[++i] ?? a.outDir; break;
      case '--warren-cpu-prof': a.cpuProfDir = argv[++i] ?? ''; break;
      case '--help': case '-h': console.log(help); process.exit(0); break;
      default: throw new Error(`unknown option ${k}\n${help}`);
    }
  }
  if (a.quick) Object.assign(a, { reps: 1, durationSec: 3, warmupSec: 1, killReps: 1, stopReps: 1 });
  if (set.reps !== undefined) a.reps = set.reps;
  if (set.time !== undefined) a.durationSec = set.time;
  if (set.warmup !== undefined) a.warmupSec = set.warmup;
  if (set.kill !== undefined) a.killReps = set.kill;
  if (set.stop !== undefined) a.stopReps = set.stop;
  return a;
}

const log = (s: string): void => console.log(`${new Date().toISOString().slice(11, 19)} ${s}`);

// ------------------------------------------------------------------------------------------------- throughput

type Target = 'warren-mirrored' | 'rabbitmq-mirrored' | 'warren-single';
const TARGET_TITLE: Record<Target, string> = {
  'warren-mirrored': 'Warren, 3 nodes, mirrored queue',
  'rabbitmq-mirrored': 'RabbitMQ 3.10, 3 nodes, mirrored queue',
  'warren-single': 'Warren, single node, non-mirrored queue',
};

interface ThroughputSide {
  runs: ThroughputRun[];
  errors: string[];
  received?: Stat;
  confirmed?: Stat;
  p50Ms?: Stat;
  p99Ms?: Stat;
  masterCpuPct?: Stat;
  /** All the setup's broker processes together (3 for a cluster), over the whole run (warm-up included). */
  allNodesCpuPct?: Stat;
  clientCpuPct?: Stat;
  otherCpuPct?: Stat;
}

type ThroughputRun = PerfResult & { allNodesCpuPct?: number };

function summarizeSide(runs: ThroughputRun[], errors: string[]): ThroughputSide {
  const ok = runs.filter((r) => r.ok);
  const s = (f: (r: ThroughputRun) => number | undefined): Stat | undefined => stat(ok.map((r) => f(r) ?? NaN));
  const out: ThroughputSide = { runs, errors };
  const put = <K extends keyof ThroughputSide>(k: K, v: ThroughputSide[K] | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  put('received', s((r) => r.receivedRate));
  put('confirmed', s((r) => r.confirmedRate));
  put('p50Ms', s((r) => r.latency.p50Ms));
  put('p99Ms', s((r) => r.latency.p99Ms));
  put('masterCpuPct', s((r) => r.brokerCpuPct));
  put('allNodesCpuPct', s((r) => r.allNodesCpuPct));
  put('clientCpuPct', s((r) => r.clientCpuMaxPct));
  put('otherCpuPct', s((r) => r.otherCpuPct));
  return out;
}

function runLine(r: ThroughputRun): string {
  if (!r.ok) return `failed: ${(r.error ?? '').split('\n')[0]}`;
  return [
    `sent ${fmtNum(r.sentRate)}/s confirmed ${fmtNum(r.confirmedRate)}/s received ${fmtNum(r.receivedRate)}/s`,
    `p50 ${fmtNum(r.latency.p50Ms, 'ms')} ms p99 ${fmtNum(r.latency.p99Ms, 'ms')} ms`,
    `master CPU ${fmtNum(r.brokerCpuPct)} %, all nodes ${fmtNum(r.allNodesCpuPct)} %, busiest client ${fmtNum(r.clientCpuMaxPct)} %, other load ${fmtNum(r.otherCpuPct)} %`,
  ].join(', ');
}

// ------------------------------------------------------------------------------------------------- failover

interface FailoverSummary {
  broker: 'Warren' | 'RabbitMQ';
  signal: FailSignal;
  runs: FailoverResult[];
  /** Over the repetitions that saw it within the cap. */
  confirmMs?: Stat;
  deliveryMs?: Stat;
  /** Repetitions in which the first confirm / delivery did not come within the cap. */
  confirmCapped: number;
  deliveryCapped: number;
  lost: number;
  stranded: number;
  /** Repetitions in which the consumer got basic.cancel. */
  cancelled: number;
  confirmed: number;
  nacked: number;
  duplicated: number;
  failed: number;
}

function summarizeFailover(broker: 'Warren' | 'RabbitMQ', signal: FailSignal, runs: FailoverResult[]): FailoverSummary {
  const ok = runs.filter((r) => r.ok);
  const out: FailoverSummary = {
    broker,
    signal,
    runs,
    confirmCapped: ok.filter((r) => r.confirmMs === undefined).length,
    deliveryCapped: ok.filter((r) => r.deliveryMs === undefined).length,
    lost: ok.reduce((a, r) => a + r.lost, 0),
    stranded: ok.reduce((a, r) => a + r.stranded, 0),
    cancelled: ok.filter((r) => r.consumerCancelledMs !== undefined).length,
    confirmed: ok.reduce((a, r) => a + r.confirmed, 0),
    nacked: ok.reduce((a, r) => a + r.nacked, 0),
    duplicated: ok.reduce((a, r) => a + r.duplicated, 0),
    failed: runs.length - ok.length,
  };
  const c = stat(ok.map((r) => r.confirmMs ?? NaN));
  const d = stat(ok.map((r) => r.deliveryMs ?? NaN));
  if (c) out.confirmMs = c;
  if (d) out.deliveryMs = d;
  return out;
}

/** "812 (640–990) ms", or "> 20 s" when every repetition hit the cap, or both when some did. */
function fmtFirst(s: Stat | undefined, capped: number, n: number, capSec: number): string {
  if (n === 0) return '–';
  if (capped === n) return `> ${capSec} s (cap, ${n}/${n})`;
  const v = `${fmtStat(s, 'ms')} ms`;
  return capped > 0 ? `${v}; > ${capSec} s in ${capped}/${n}` : v;
}

// ------------------------------------------------------------------------------------------------- report

interface MirroredReport {
  meta: Record<string, string | number>;
  throughput: Partial<Record<Target, ThroughputSide>>;
  /** Per repetition, from runs next to each other in time: Warren mirrored / RabbitMQ mirrored, Warren mirrored / Warren single. */
  pairedRatios: { vsRabbitmq: number[]; vsSingle: number[] };
  ratios: { vsRabbitmq?: number; vsSingle?: number };
  failover: FailoverSummary[];
  targets: { name: string; want: string; got: string; met: boolean | null }[];
}

function markdown(rep: MirroredReport, a: Args): string {
  const m = rep.meta;
  const L: string[] = [];
  L.push(`# Mirrored queues: Warren vs RabbitMQ (${m['mode']})`);
  L.push('');
  L.push(`${m['date']} · \`${m['command']}\` · ${m['cpus']} · ${m['memory']} · Node ${m['node']} · RabbitMQ ${m['rabbitmq']} · Warren ${m['warrenCommit']}`);
  L.push('');
  L.push('Clusters: 3 nodes on this host, node 1 disc, nodes 2 and 3 ram (`join_cluster --ram`), policy `ha-all` `^ha\\.` `{"ha-mode":"all","ha-sync-mode":"automatic"}`; queues are declared through node 2, which masters them.');
  if (a.throughput) {
    L.push('');
    L.push(`## Throughput: 1P/1C, 1 KB persistent, durable queue, confirms (window 100), manual acks (prefetch 100)`);
    L.push('');
    L.push(`${a.reps} repetition(s) of ${a.durationSec} s (+${a.warmupSec} s warm-up), in each repetition Warren mirrored, RabbitMQ mirrored, Warren single node, one after the other; the RabbitMQ cluster is paused (SIGSTOP, all three nodes) during Warren's runs, as its idle VMs take CPU a 3-node run on this host needs. Producer and consumer connect to the master's node. Medians (min–max). "master CPU" is the master node's process over the measured window (% of one core; 200 % = both cores); "all nodes CPU" the three nodes together (one for the single node) over the whole run, warm-up included; "other load" is CPU used by everything but the master and the load generator (the mirrors' nodes, the idle other cluster, other people's work on this shared machine: noise).`);
    L.push('');
    L.push('| Setup | received msg/s | confirmed msg/s | p50 / p99 ms | master CPU % | all nodes CPU % | busiest client CPU % | other load % |');
    L.push('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const t of Object.keys(TARGET_TITLE) as Target[]) {
      const s = rep.throughput[t];
      if (!s) continue;
      const err = s.errors.length ? ` (${s.errors.length} failed)` : '';
      L.push(
        `| ${TARGET_TITLE[t]}${err} | ${fmtStat(s.received, '')} | ${fmtStat(s.confirmed, '')} | ${fmtNum(s.p50Ms?.median, 'ms')} / ${fmtNum(s.p99Ms?.median, 'ms')} | ${fmtStat(s.masterCpuPct, '')} | ${fmtStat(s.allNodesCpuPct, '')} | ${fmtStat(s.clientCpuPct, '')} | ${fmtStat(s.otherCpuPct, '')} |`,
      );
    }
    L.push('');
    const pr = (v: number[]): string => {
      const s = stat(v);
      return s ? `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})` : '–';
    };
    L.push(`Ratios of medians: Warren mirrored / RabbitMQ mirrored **${rep.ratios.vsRabbitmq?.toFixed(2) ?? '–'}×**, Warren mirrored / Warren single node **${rep.ratios.vsSingle?.toFixed(2) ?? '–'}×**. Per repetition (runs next to each other in time): ${pr(rep.pairedRatios.vsRabbitmq)} and ${pr(rep.pairedRatios.vsSingle)}.`);
  }
  if (a.failover) {
    L.push('');
    L.push('## Failover: the master\'s process killed (kill -9) or hung (SIGSTOP)');
    L.push('');
    L.push(`Publisher on node 1 (confirms, ≤ 100 in flight, ${FAILOVER_RATE} msg/s of 1 KB persistent messages), consumer on node 3 (prefetch 100, acks); the signal goes to node 2's process (Warren: the node; RabbitMQ: beam.smp). Times are from the signal to the first confirm / delivery of a message *published after* the signal, medians (min–max) over the repetitions; a hung master is woken (SIGCONT) after ${a.capSec} s at most. "lost" counts confirmed messages that are nowhere (neither delivered nor left in the queue), "stranded" confirmed messages never delivered to the consumer but still in the queue at the end (taken with basic.get), both over all repetitions; "cancelled" repetitions in which the consumer got basic.cancel.`);
    L.push('');
    L.push('| Broker | Signal | reps | first confirm after | first delivery after | lost (of confirmed) | stranded | cancelled | nacked | duplicates | failed reps |');
    L.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const f of rep.failover) {
      const n = f.runs.length - f.failed;
      L.push(
        `| ${f.broker} | ${f.signal === 'SIGKILL' ? 'kill -9' : 'SIGSTOP'} | ${f.runs.length} | ${fmtFirst(f.confirmMs, f.confirmCapped, n, a.capSec)} | ${fmtFirst(f.deliveryMs, f.deliveryCapped, n, a.capSec)} | ${f.lost} (of ${f.confirmed.toLocaleString('en')}) | ${f.stranded} | ${f.cancelled} | ${f.nacked} | ${f.duplicated} | ${f.failed} |`,
      );
    }
    const errs = rep.failover.flatMap((f) => f.runs.filter((r) => r.error).map((r) => `${f.broker} ${f.signal}: ${r.error}`));
    if (errs.length) {
      L.push('');
      for (const e of errs) L.push(`- ${e}`);
    }
  }
  L.push('');
  L.push('## Targets');
  L.push('');
  L.push('| Target | Wanted | Measured | |');
  L.push('| --- | --- | --- | --- |');
  for (const t of rep.targets) L.push(`| ${t.name} | ${t.want} | ${t.got} | ${t.met === null ? 'n/a' : t.met ? 'met' : 'not met'} |`);
  return L.join('\n');
}

// ------------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const modeName = a.quick ? 'quick' : 'full';
  // Every run is bounded on its own; this bounds the whole bench (cluster starts included).
  const limitMin = 15 + (a.throughput ? (a.reps * 3 * (a.durationSec + a.warmupSec + 30)) / 60 : 0) + (a.failover ? (a.killReps * 2 * 60 + a.stopReps * 2 * (a.capSec + 60)) / 60 : 0);
  const watchdog = setTimeout(() => {
    log(`bench: over its time limit (${limitMin.toFixed(0)} min), stopping everything it started`);
    killAllSync();
    process.exit(2);
  }, limitMin * 60_000);
  watchdog.unref();

  const commit = headCommit();
  const rep: MirroredReport = {
    meta: {
      date: new Date().toISOString(),
      mode: modeName,
      command: `npm run bench:mirrored -- ${process.argv.slice(2).join(' ')}`.trim(),
      reps: a.reps,
      durationSec: a.durationSec,
      warmupSec: a.warmupSec,
      killReps: a.killReps,
      stopReps: a.stopReps,
      capSec: a.capSec,
      cpus: `${cpus().length} x ${cpus()[0]?.model.trim() ?? 'cpu'}`,
      memory: `${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
      node: process.versions.node,
      rabbitmq: rabbitmqVersion(),
      warrenCommit: commit,
    },
    throughput: {},
    pairedRatios: { vsRabbitmq: [], vsSingle: [] },
    ratios: {},
    failover: [],
    targets: [],
  };
  log(`mirrored queues, ${modeName} mode (overall limit ${limitMin.toFixed(0)} min)`);

  let wc: Cluster | undefined;
  let rc: Cluster | undefined;
  let single: RunningBroker | undefined;
  const sideRuns: Record<Target, { runs: ThroughputRun[]; errors: string[] }> = {
    'warren-mirrored': { runs: [], errors: [] },
    'rabbitmq-mirrored': { runs: [], errors: [] },
    'warren-single': { runs: [], errors: [] },
  };
  const fo: Record<string, FailoverResult[]> = {};
  try {
    // ---- clusters (and the single node), up for the whole bench
    if (a.warren) {
      const t = performance.now();
      wc = await startWarrenCluster(log, a.cpuProfDir).catch((e: unknown) => {
        log(`Warren cluster unavailable: ${(e as Error).message}`);
        return undefined;
      });
      if (wc) log(`  in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      if (a.throughput) {
        single = await startWarren(a.cpuProfDir ? { cpuProfDir: a.cpuProfDir } : {}).catch((e: unknown) => {
          log(`Warren single node unavailable: ${(e as Error).message}`);
          return undefined;
        });
      }
    }
    if (a.rabbitmq) {
      const t = performance.now();
      rc = await startRabbitmqCluster(log).catch((e: unknown) => {
        log(`RabbitMQ cluster unavailable: ${(e as Error).message}`);
        return undefined;
      });
      if (rc) log(`  in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }

    // ---- 1. throughput, interleaved
    if (a.throughput) {
      // the clusters' start-up work is over first (RabbitMQ's nodes stay busy for a while after they boot): it took
      // 40-100 % of the machine during the first repetition otherwise
      await quiet(30);
      for (let r = 1; r <= a.reps; r++) {
        const got: Partial<Record<Target, number>> = {};
        for (const t of ['warren-mirrored', 'rabbitmq-mirrored', 'warren-single'] as Target[]) {
          if (t === 'rabbitmq-mirrored' ? !a.rabbitmq : !a.warren) continue;
          const cluster = t === 'warren-mirrored' ? wc : t === 'rabbitmq-mirrored' ? rc : undefined;
          let uri: string | undefined;
          let pid: number | undefined;
          let allPids: number[] = [];
          if (cluster) {
            const master = cluster.nodes[1]!;
            if (!master.alive()) await cluster.restart(1).catch(() => undefined);
            uri = master.alive() ? master.uri : undefined;
            pid = master.vmPid();
            allPids = cluster.nodes.map((n) => n.vmPid()).filter((p): p is number => p !== undefined);
          } else if (t === 'warren-single' && single?.alive()) {
            uri = single.uri;
            pid = single.pid;
            allPids = [single.pid];
          }
          if (!uri) {
            sideRuns[t].errors.push('unavailable');
            log(`${t.padEnd(18)} rep ${r}: unavailable`);
            continue;
          }
          // the idle RabbitMQ cluster is paused while Warren runs (its VMs' housekeeping takes CPU that a 3-node run on
          // this host needs); all three together, for well under net_ticktime, so the cluster does not notice
          const paused = t !== 'rabbitmq-mirrored' && rc !== undefined ? rc.nodes.map((n) => n.vmPid()).filter((p): p is number => p !== undefined) : [];
          signal(paused, 'SIGSTOP');
          if (pid !== undefined) await settle(pid);
          if (a.quietWaitSec > 0) await quiet(a.quietWaitSec);
          const cpu0 = allPids.map((p) => sampleOne(p));
          const t0 = performance.now();
          const res: ThroughputRun = await runPerf({
            ...defaultPerfOptions,
            ...PERSISTENT_1KB_CONFIRM_LOAD,
            uri,
            // ha.perf-<id>-0 matches the ha-all policy on the clusters; the single node has no policy.
            queue: 'ha.perf',
            durationSec: a.durationSec,
            warmupSec: a.warmupSec,
            ...(pid !== undefined ? { brokerPid: pid } : {}),
            timeoutSec: a.warmupSec + a.durationSec + 90,
          }).finally(() => signal(paused, 'SIGCONT'));
          const cpuSec = allPids.reduce((sum, p, k) => sum + ((sampleOne(p)?.cpuSec ?? NaN) - (cpu0[k]?.cpuSec ?? NaN)), 0);
          if (Number.isFinite(cpuSec)) res.allNodesCpuPct = (cpuSec / ((performance.now() - t0) / 1000)) * 100;
          sideRuns[t].runs.push(res);
          if (!res.ok) sideRuns[t].errors.push(res.error ?? 'failed');
          else got[t] = res.receivedRate;
          log(`${t.padEnd(18)} rep ${r}: ${runLine(res)}`);
          await sleep(500);
        }
        const wm = got['warren-mirrored'];
        const rm = got['rabbitmq-mirrored'];
        const ws = got['warren-single'];
        if (wm !== undefined && rm) rep.pairedRatios.vsRabbitmq.push(wm / rm);
        if (wm !== undefined && ws) rep.pairedRatios.vsSingle.push(wm / ws);
      }
      for (const t of Object.keys(sideRuns) as Target[]) {
        if (sideRuns[t].runs.length || sideRuns[t].errors.length) rep.throughput[t] = summarizeSide(sideRuns[t].runs, sideRuns[t].errors);
      }
      const med = (t: Target): number | undefined => rep.throughput[t]?.received?.median;
      const [wm, rm, ws] = [med('warren-mirrored'), med('rabbitmq-mirrored'), med('warren-single')];
      if (wm !== undefined && rm) rep.ratios.vsRabbitmq = wm / rm;
      if (wm !== undefined && ws) rep.ratios.vsSingle = wm / ws;
    }
    await single?.stop();
    single = undefined;

    // ---- 2. failover, Warren and RabbitMQ alternating
    if (a.failover) {
      const plan: FailSignal[] = [...Array<FailSignal>(a.killReps).fill('SIGKILL'), ...Array<FailSignal>(a.stopReps).fill('SIGSTOP')];
      for (const [i, signal] of plan.entries()) {
        for (const c of [wc, rc]) {
          if (!c) continue;
          log(`failover ${i + 1}/${plan.length}: ${c.kind} ${signal}`);
          const r = await runFailover(c, { signal, capMs: a.capSec * 1000, beforeMs: 2000, afterMs: 1000, log });
          (fo[`${c.kind} ${signal}`] ??= []).push(r);
          log(
            `  confirmed ${r.confirmed}, lost ${r.lost}, stranded ${r.stranded}${r.consumerCancelledMs !== undefined ? `, consumer cancelled after ${r.consumerCancelledMs.toFixed(0)} ms` : ''}, nacked ${r.nacked}, duplicated ${r.duplicated}, redelivered ${r.redelivered}, master ${r.masterBefore} -> ${r.masterAfter ?? '?'}${r.publisherSurvived && r.consumerSurvived ? '' : `, publisher ${r.publisherSurvived ? 'ok' : 'lost'} consumer ${r.consumerSurvived ? 'ok' : 'lost'}`}`,
          );
        }
      }
      for (const broker of ['Warren', 'RabbitMQ'] as const) {
        for (const signal of ['SIGKILL', 'SIGSTOP'] as const) {
          const runs = fo[`${broker} ${signal}`];
          if (runs?.length) rep.failover.push(summarizeFailover(broker, signal, runs));
        }
      }
    }
  } finally {
    log('stopping the clusters');
    await single?.stop();
    await wc?.stop();
    await rc?.stop();
  }

  // ---- targets
  const f = (b: string, s: FailSignal): FailoverSummary | undefined => rep.failover.find((x) => x.broker === b && x.signal === s);
  if (a.throughput) {
    const t = rep.throughput;
    const r1 = rep.ratios.vsRabbitmq;
    rep.targets.push({
      name: 'Mirrored throughput vs RabbitMQ mirrored',
      want: '≥ 3×',
      got: r1 === undefined ? 'no comparison' : `${r1.toFixed(2)}× (${fmtNum(t['warren-mirrored']?.received?.median)} vs ${fmtNum(t['rabbitmq-mirrored']?.received?.median)} msg/s)`,
      met: r1 === undefined ? null : r1 >= 3,
    });
    const r2 = rep.ratios.vsSingle;
    rep.targets.push({
      name: 'Mirrored throughput vs Warren single node',
      want: '≥ 0.5×',
      got: r2 === undefined ? 'no comparison' : `${r2.toFixed(2)}× (${fmtNum(t['warren-mirrored']?.received?.median)} vs ${fmtNum(t['warren-single']?.received?.median)} msg/s)`,
      met: r2 === undefined ? null : r2 >= 0.5,
    });
  }
  const hung = f('Warren', 'SIGSTOP');
  if (hung) {
    const worst = Math.max(...hung.runs.filter((r) => r.ok).map((r) => Math.max(r.confirmMs ?? Infinity, r.deliveryMs ?? Infinity)));
    const s = stat(hung.runs.filter((r) => r.ok).map((r) => Math.max(r.confirmMs ?? Infinity, r.deliveryMs ?? Infinity)));
    rep.targets.push({
      name: 'Warren: hung master (SIGSTOP) to confirms and deliveries again',
      want: '≤ 2 s (median)',
      got: s ? `${fmtNum(s.median, 'ms')} ms median, worst ${Number.isFinite(worst) ? `${fmtNum(worst, 'ms')} ms` : `> ${a.capSec} s`}` : 'no successful repetition',
      met: s ? s.median <= 2000 : false,
    });
  }
  const wl = rep.failover.filter((x) => x.broker === 'Warren');
  if (wl.length) {
    const lost = wl.reduce((n, x) => n + x.lost, 0);
    const failed = wl.reduce((n, x) => n + x.failed, 0);
    rep.targets.push({
      name: 'Warren: confirmed messages lost in failovers',
      want: '0',
      got: `${lost} of ${wl.reduce((n, x) => n + x.confirmed, 0).toLocaleString('en')}${failed ? ` (${failed} repetition(s) failed)` : ''}`,
      met: lost === 0 && failed === 0,
    });
  }

  if (wl.length) {
    const n = wl.reduce((k, x) => k + x.runs.filter((r) => r.ok).length, 0);
    const stalled = wl.reduce((k, x) => k + x.deliveryCapped, 0);
    rep.targets.push({
      name: 'Warren: the consumer on a surviving node gets deliveries again after the failover',
      want: `every repetition, within ${a.capSec} s`,
      got: `${n - stalled} of ${n}${stalled ? ` (${wl.reduce((k, x) => k + x.stranded, 0)} confirmed messages stranded in the queue)` : ''}`,
      met: n > 0 && stalled === 0,
    });
  }
  mkdirSync(a.outDir, { recursive: true });
  // Runs of only one part go beside the complete ones, not over them.
  const base = join(a.outDir, `mirrored-${modeName}${a.throughput && a.failover ? '' : '-partial'}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(rep, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  const md = markdown(rep, a);
  writeFileSync(`${base}.md`, `${md}\n`);
  console.log(`\n${md}\n\nwrote ${base}.json and .md`);
}

main()
  .then(() => {
    killAllSync();
    process.exit(0);
  })
  .catch((e: unknown) => {
    log(`bench failed: ${(e as Error).stack ?? String(e)}`);
    killAllSync();
    process.exit(1);
  });
