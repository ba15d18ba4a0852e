/**
 * Failover in the seeds' own layout, Warren and RabbitMQ side by side in one run: the node mastering a mirrored queue
 * is killed (kill -9) — the disc node, then a ram node — or hung (SIGSTOP, the disc node).
 *
 *   npm run bench:failover                         3 repetitions of each failure per broker (~12 min)
 *   npm run bench:failover -- --reps 5 --stop-reps 3 --cap 20 --tag <name>
 *   npm run bench:failover -- --quick              1 repetition of each
 *
 * Both clusters are built by cluster3.ts the way the seeds build theirs: node 1 disc, nodes 2 and 3 ram
 * (`stop_app; join_cluster --ram; start_app`), policy ha-all `^ha\.` {"ha-mode":"all","ha-sync-mode":"automatic"}.
 * Each repetition (failover.ts) declares a fresh durable queue through the node that is to master it, waits until
 * both other nodes hold synchronised mirrors, runs a publisher with confirms (≤ 100 in flight, 2,000 msg/s of 1 KB
 * persistent messages) on node 3 and a consumer (prefetch 100, acks) on each surviving node, then signals the master's
 * process (Warren: the node; RabbitMQ: beam.smp). Measured from the signal: the first confirm of a message published
 * after it (a new master is in place: only a master confirms), the first delivery of such a message, and the time
 * until *every* consumer got one; then confirmed messages that are nowhere (lost), delivered more than once
 * (duplicates), nacked. The killed node is started again (disc: with its data; ram: empty, as a ram node restarts)
 * before the next repetition; a hung one is woken (SIGCONT) once everything was seen or the cap passed.
 *
 * | failure   | master          | publisher | consumers        |
 * | kill-disc | node 1 (disc)   | node 3    | node 2 and node 3 |
 * | kill-ram  | node 2 (ram)    | node 3    | node 1 and node 3 |
 * | stop-disc | node 1 (disc)   | node 3    | node 2 and node 3 |
 *
 * Warren and RabbitMQ alternate within each repetition, so both see the same machine. Results go to
 * bench/results/failover-seeds[-quick].{json,md}, with the load average around each run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { rabbitmqVersion } from './brokers.ts';
import { startRabbitmqCluster, startWarrenCluster, type Cluster } from './cluster3.ts';
import { runFailover, type FailoverResult, type FailSignal } from './failover.ts';
import { headCommit, repoRoot } from './perf.ts';
import { killAllSync, sleep } from './procs.ts';
import { fmtNum, fmtStat, stat, type Stat } from './report.ts';

const RATE = 2000;
type Failure = 'kill-disc' | 'kill-ram' | 'stop-disc';
const FAILURES: Record<Failure, { title: string; signal: FailSignal; master: number; publisher: number; consumers: number[] }> = {
  'kill-disc': { title: 'kill -9 of the disc node (master)', signal: 'SIGKILL', master: 0, publisher: 2, consumers: [1, 2] },
  'kill-ram': { title: 'kill -9 of a ram node (master)', signal: 'SIGKILL', master: 1, publisher: 2, consumers: [0, 2] },
  'stop-disc': { title: 'SIGSTOP of the disc node (master)', signal: 'SIGSTOP', master: 0, publisher: 2, consumers: [1, 2] },
};
type Broker = 'Warren' | 'RabbitMQ';

interface Args {
  quick: boolean;
  reps: number;
  stopReps: number;
  capSec: number;
  warren: boolean;
  rabbitmq: boolean;
  tag: string;
  outDir: string;
  only?: Failure[];
}

const help = `usage: npm run bench:failover -- [options]
  --reps N        kill -9 repetitions per failure (disc node, ram node) and broker (default 3)
  --stop-reps N   SIGSTOP repetitions of the disc node per broker (default 3)
  --quick         1 repetition of each
  --cap SEC       how long to wait for the first confirm and every consumer's first delivery (default 20)
  --no-rabbitmq | --no-warren
  --only F,...    only these failures (kill-disc, kill-ram, stop-disc)
  --tag NAME      put NAME into node names and temp dir names
  --out DIR       where results go (default bench/results)`;

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, reps: 3, stopReps: 3, capSec: 20, warren: true, rabbitmq: true, tag: '', outDir: join(repoRoot, 'bench', 'results') };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${arg} takes a number, got ${argv[i] ?? 'nothing'}`);
      return v;
    };
    switch (arg) {
      case '--quick': a.quick = true; a.reps = 1; a.stopReps = 1; break;
      case '--reps': a.reps = num(); break;
      case '--stop-reps': a.stopReps = num(); break;
      case '--cap': a.capSec = num(); break;
      case '--no-rabbitmq': a.rabbitmq = false; break;
      case '--no-warren': a.warren = false; break;
      case '--tag': a.tag = argv[++i] ?? ''; if (!/^[a-z0-9]+$/.test(a.tag)) throw new Error('--tag takes lower-case letters and digits'); break;
      case '--out': a.outDir = argv[++i] ?? a.outDir; break;
      case '--only': {
        const list = (argv[++i] ?? '').split(',');
        for (const f of list) if (!(f in FAILURES)) throw new Error(`--only takes ${Object.keys(FAILURES).join(', ')}; got ${f}`);
        a.only = list as Failure[];
        break;
      }
      case '-h': case '--help': console.log(help); process.exit(0); break;
      default: throw new Error(`unknown option ${arg}\n${help}`);
    }
  }
  return a;
}

const log = (s: string): void => console.log(`${new Date().toISOString().slice(11, 19)} ${s}`);

interface Run extends FailoverResult {
  load1: number;
}

interface Summary {
  broker: Broker;
  failure: Failure;
  runs: Run[];
  confirmMs?: Stat;
  deliveryMs?: Stat;
  allDeliveryMs?: Stat;
  /** Repetitions without a confirm / without every consumer's delivery within the cap. */
  confirmCapped: number;
  allCapped: number;
  confirmed: number;
  lost: number;
  stranded: number;
  duplicated: number;
  nacked: number;
  cancelled: number;
  failed: number;
}

function summarize(broker: Broker, failure: Failure, runs: Run[]): Summary {
  const ok = runs.filter((r) => r.ok);
  const s: Summary = {
    broker,
    failure,
    runs,
    confirmCapped: ok.filter((r) => r.confirmMs === undefined).length,
    allCapped: ok.filter((r) => r.allDeliveryMs === undefined).length,
    confirmed: ok.reduce((n, r) => n + r.confirmed, 0),
    lost: ok.reduce((n, r) => n + r.lost, 0),
    stranded: ok.reduce((n, r) => n + r.stranded, 0),
    duplicated: ok.reduce((n, r) => n + r.duplicated, 0),
    nacked: ok.reduce((n, r) => n + r.nacked, 0),
    cancelled: ok.filter((r) => r.consumerCancelledMs !== undefined).length,
    failed: runs.length - ok.length,
  };
  const [c, d, all] = [stat(ok.map((r) => r.confirmMs ?? NaN)), stat(ok.map((r) => r.deliveryMs ?? NaN)), stat(ok.map((r) => r.allDeliveryMs ?? NaN))];
  if (c) s.confirmMs = c;
  if (d) s.deliveryMs = d;
  if (all) s.allDeliveryMs = all;
  return s;
}

function first(st: Stat | undefined, capped: number, n: number, capSec: number): string {
  if (n === 0) return '–';
  if (capped === n) return `> ${capSec} s (${n}/${n})`;
  const v = `${fmtStat(st, 'ms')} ms`;
  return capped > 0 ? `${v}; > ${capSec} s in ${capped}/${n}` : v;
}

interface Report {
  meta: Record<string, string | number>;
  summaries: Summary[];
  targets: { name: string; want: string; got: string; met: boolean | null }[];
}

function markdown(rep: Report, a: Args): string {
  const m = rep.meta;
  const L: string[] = [];
  L.push(`# Failover in the seeds' layout: Warren vs RabbitMQ (${m['mode']})`);
  L.push('');
  L.push(`${m['date']} · \`${m['command']}\` · ${m['cpus']} · ${m['memory']} · Node ${m['node']} · RabbitMQ ${m['rabbitmq']} · Warren ${m['warrenCommit']} · load average (1 min) over the runs: median ${m['load1Median']} (${m['load1Min']}–${m['load1Max']})`);
  L.push('');
  L.push(`Both clusters on this host, as the seeds build them: node 1 disc, nodes 2 and 3 ram (\`join_cluster --ram\`), policy \`ha-all\` \`^ha\\.\` \`{"ha-mode":"all","ha-sync-mode":"automatic"}\`. Per repetition a fresh durable queue, declared through the node that masters it and synchronised on the two others; a publisher on node 3 (confirms, ≤ 100 in flight, ${RATE} msg/s of 1 KB persistent messages) and a consumer (prefetch 100, acks) on each surviving node; then the master's process (Warren: the node; RabbitMQ: beam.smp) gets kill -9 or SIGSTOP. Times are from the signal to the first confirm of a message *published after* it (a new master is in place), to its first delivery, and until every consumer got one; medians (min–max) over the repetitions, Warren and RabbitMQ alternating. "lost" = confirmed messages neither delivered nor left in the queue; "stranded" = confirmed, never delivered, still in the queue; "duplicates" = messages delivered more than once (at-least-once allows them); "cancelled" = repetitions in which a consumer got basic.cancel. A hung node is woken after ${a.capSec} s at most: RabbitMQ notices a hung node after net_ticktime (60 s: 45–75 s), so its SIGSTOP row is capped.`);
  L.push('');
  L.push('| Failure | Broker | reps | first confirm | first delivery | every consumer delivering | lost (of confirmed) | stranded | duplicates | nacked | cancelled | failed reps |');
  L.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const s of rep.summaries) {
    const n = s.runs.length - s.failed;
    const dCapped = s.runs.filter((r) => r.ok && r.deliveryMs === undefined).length;
    L.push(
      `| ${FAILURES[s.failure].title} | ${s.broker} | ${s.runs.length} | ${first(s.confirmMs, s.confirmCapped, n, a.capSec)} | ${first(s.deliveryMs, dCapped, n, a.capSec)} | ${first(s.allDeliveryMs, s.allCapped, n, a.capSec)} | ${s.lost} (of ${s.confirmed.toLocaleString('en')}) | ${s.stranded} | ${s.duplicated} | ${s.nacked} | ${s.cancelled} | ${s.failed} |`,
    );
  }
  const errs = rep.summaries.flatMap((s) => s.runs.filter((r) => r.error).map((r) => `${s.broker} ${s.failure}: ${r.error}`));
  if (errs.length) {
    L.push('');
    for (const e of errs) L.push(`- ${e}`);
  }
  L.push('');
  L.push('## Targets');
  L.push('');
  L.push('| Target | Wanted | Measured | |');
  L.push('| --- | --- | --- | --- |');
  for (const t of rep.targets) L.push(`| ${t.name} | ${t.want} | ${t.got} | ${t.met === null ? 'n/a' : t.met ? 'met' : 'not met'} |`);
  return L.join('\n');
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const modeName = a.quick ? 'quick' : 'full';
  const brokers = (a.warren ? 1 : 0) + (a.rabbitmq ? 1 : 0);
  const limitMin = 15 + (brokers * (2 * a.reps * 150 + a.stopReps * (a.capSec + 150))) / 60;
  const watchdog = setTimeout(() => {
    log(`bench: over its time limit (${limitMin.toFixed(0)} min), stopping everything it started`);
    killAllSync();
    process.exit(2);
  }, limitMin * 60_000);
  watchdog.unref();
  const rep: Report = {
    meta: {
      date: new Date().toISOString(),
      mode: modeName,
      command: `npm run bench:failover -- ${process.argv.slice(2).join(' ')}`.trim(),
      reps: a.reps,
      stopReps: a.stopReps,
      capSec: a.capSec,
      rate: RATE,
      cpus: `${cpus().length} x ${cpus()[0]?.model.trim() ?? 'cpu'}`,
      memory: `${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
      node: process.versions.node,
      rabbitmq: rabbitmqVersion(),
      warrenCommit: headCommit(),
    },
    summaries: [],
    targets: [],
  };
  log(`failover in the seeds' layout, ${modeName} mode (overall limit ${limitMin.toFixed(0)} min)`);
  const clusters: Cluster[] = [];
  const runs: Record<string, Run[]> = {};
  try {
    if (a.warren) {
      const c = await startWarrenCluster(log, undefined, a.tag).catch((e: unknown) => void log(`Warren cluster unavailable: ${(e as Error).message}`));
      if (c) clusters.push(c);
    }
    if (a.rabbitmq) {
      const c = await startRabbitmqCluster(log, a.tag).catch((e: unknown) => void log(`RabbitMQ cluster unavailable: ${(e as Error).message}`));
      if (c) clusters.push(c);
    }
    if (clusters.length === 0) throw new Error('no cluster came up: nothing to measure');
    const plan: Failure[] = [];
    for (let r = 0; r < Math.max(a.reps, a.stopReps); r++) {
      if (r < a.reps) plan.push('kill-disc', 'kill-ram');
      if (r < a.stopReps) plan.push('stop-disc');
    }
    if (a.only) plan.splice(0, plan.length, ...plan.filter((f) => a.only!.includes(f)));
    for (const [i, failure] of plan.entries()) {
      const f = FAILURES[failure];
      // alternate which broker goes first, so neither always runs right after the other's restart
      const order = i % 2 === 0 ? clusters : [...clusters].reverse();
      for (const c of order) {
        log(`${i + 1}/${plan.length}: ${c.kind} ${failure}`);
        const load1 = loadavg()[0]!;
        const r = await runFailover(c, {
          signal: f.signal,
          master: f.master,
          publisher: f.publisher,
          consumers: f.consumers,
          rate: RATE,
          capMs: a.capSec * 1000,
          beforeMs: 3000,
          afterMs: 2000,
          log,
        });
        (runs[`${c.kind} ${failure}`] ??= []).push({ ...r, load1 });
        log(
          `  load ${load1.toFixed(1)}, confirmed ${r.confirmed}, lost ${r.lost}, stranded ${r.stranded}, duplicated ${r.duplicated}, nacked ${r.nacked}, per consumer ${r.consumers.map((x) => `${x.node} ${x.received}${x.cancelledMs !== undefined ? ' (cancelled)' : ''}`).join(', ')}, master ${r.masterBefore} -> ${r.masterAfter ?? '?'}`,
        );
        await sleep(1000);
      }
    }
  } finally {
    log('stopping the clusters');
    for (const c of clusters) await c.stop();
  }
  for (const failure of Object.keys(FAILURES) as Failure[]) {
    for (const broker of ['Warren', 'RabbitMQ'] as const) {
      const r = runs[`${broker} ${failure}`];
      if (r?.length) rep.summaries.push(summarize(broker, failure, r));
    }
  }
  const loads = stat(Object.values(runs).flat().map((r) => r.load1));
  rep.meta['load1Median'] = loads ? loads.median.toFixed(1) : '–';
  rep.meta['load1Min'] = loads ? loads.min.toFixed(1) : '–';
  rep.meta['load1Max'] = loads ? loads.max.toFixed(1) : '–';

  const get = (b: Broker, f: Failure): Summary | undefined => rep.summaries.find((s) => s.broker === b && s.failure === f);
  for (const f of ['kill-disc', 'kill-ram'] as const) {
    const w = get('Warren', f);
    const r = get('RabbitMQ', f);
    if (w && r) {
      const [wm, rm] = [w.confirmMs?.median, r.confirmMs?.median];
      rep.targets.push({
        name: `Warren: first confirm after ${FAILURES[f].title}, vs RabbitMQ's in the same run`,
        want: '≤ RabbitMQ (median)',
        got: `${fmtNum(wm, 'ms')} vs ${fmtNum(rm, 'ms')} ms`,
        met: wm === undefined ? false : rm === undefined ? null : wm <= rm,
      });
    }
  }
  const hung = get('Warren', 'stop-disc');
  if (hung) {
    const s = hung.confirmMs;
    rep.targets.push({
      name: 'Warren: SIGSTOP of the disc master to a new master confirming',
      want: '≤ 2 s (median)',
      got: s ? `${fmtNum(s.median, 'ms')} ms median, worst ${hung.confirmCapped ? `> ${a.capSec} s` : `${fmtNum(s.max, 'ms')} ms`}` : 'no successful repetition',
      met: s ? s.median <= 2000 : false,
    });
  }
  const ws = rep.summaries.filter((s) => s.broker === 'Warren');
  if (ws.length) {
    const failed = ws.reduce((n, s) => n + s.failed, 0);
    rep.targets.push({
      name: 'Warren: confirmed messages lost',
      want: '0',
      got: `${ws.reduce((n, s) => n + s.lost, 0)} of ${ws.reduce((n, s) => n + s.confirmed, 0).toLocaleString('en')}${failed ? ` (${failed} repetition(s) failed)` : ''}`,
      met: ws.every((s) => s.lost === 0) && failed === 0,
    });
    const n = ws.reduce((k, s) => k + s.runs.filter((r) => r.ok).length, 0);
    const capped = ws.reduce((k, s) => k + s.allCapped, 0);
    const cancelled = ws.reduce((k, s) => k + s.cancelled, 0);
    rep.targets.push({
      name: 'Warren: consumers on both surviving nodes keep receiving (no basic.cancel)',
      want: `every repetition, within ${a.capSec} s`,
      got: `${n - capped} of ${n}${cancelled ? `, ${cancelled} with basic.cancel` : ''}`,
      met: n > 0 && capped === 0 && cancelled === 0,
    });
  }
  mkdirSync(a.outDir, { recursive: true });
  const base = join(a.outDir, `failover-seeds${a.quick ? '-quick' : ''}${a.warren && a.rabbitmq && !a.only ? '' : '-partial'}`);
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
