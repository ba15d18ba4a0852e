/**
 * `npm run bench` — Warren vs RabbitMQ, side by side, on this machine.
 *
 *   npm run bench                      full mode: 3 repetitions of 15 s (+3 s warm-up) per scenario and broker
 *   npm run bench -- --quick           CI mode: 1 repetition of 3 s (+1 s warm-up)
 *   npm run bench -- --only autoack-16b,fixed-5000-latency
 *   npm run bench -- --list            the scenarios
 *
 * Starts the load generator's ceiling check (discard server), a throw-away RabbitMQ (installing Debian's
 * rabbitmq-server if it is missing) and Warren's broker binary, runs every scenario interleaved
 * (RabbitMQ, Warren, RabbitMQ, Warren, ...), and writes bench/results/throughput-<mode>.{json,md,svg}.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { rabbitmqVersion, startDiscard, startRabbitmq, startWarren, type RunningBroker } from './brokers.ts';
import { headCommit, repoRoot, runPerf } from './perf.ts';
import { killAllSync, track } from './procs.ts';
import { quiet, settle } from './procstat.ts';
import { markdown, stat, summarize, svg, fmtNum, type BrokerSide, type Report, type ScenarioReport, type TargetReport } from './report.ts';
import { ceilingScenarios, scenarios, type Mode, type Scenario } from './scenarios.ts';
import { defaultPerfOptions, type PerfOptions, type PerfResult } from './types.ts';

interface Args {
  quick: boolean;
  reps: number;
  durationSec: number;
  warmupSec: number;
  only: string[];
  rabbitmq: boolean;
  warren: boolean;
  ceiling: boolean;
  embeddedReps: number;
  /** Wait up to this many seconds before each run for the machine to be quiet (other work below 30 % of a core). */
  quietWaitSec: number;
  cpuProfDir?: string;
  outDir: string;
}

const help = `usage: npm run bench -- [options]
  --quick               1 repetition of 3 s (+1 s warm-up) per scenario (CI); default is full: 3 x 15 s (+3 s)
  --reps N              repetitions per scenario and broker
  --time SEC            measured seconds per run        --warmup SEC   warm-up seconds per run
  --only ID[,ID...]     run only these scenarios (ids from --list; a prefix is enough)
  --no-rabbitmq         Warren only                     --no-warren    RabbitMQ only
  --no-ceiling          skip the discard-server ceiling check
  --quiet-wait SEC      before each run, wait up to SEC s for other work on the machine to stop (< 30 % CPU)
  --warren-cpu-prof DIR run Warren's broker under node --cpu-prof, profiles written to DIR when it stops
  --out DIR             where results go (default bench/results)
  --list                list the scenarios and exit`;

function parseArgs(argv: string[]): Args {
  const a: Args = {
    quick: false,
    reps: 3,
    durationSec: 15,
    warmupSec: 3,
    only: [],
    rabbitmq: true,
    warren: true,
    ceiling: true,
    embeddedReps: 7,
    quietWaitSec: 0,
    outDir: join(repoRoot, 'bench', 'results'),
  };
  const set: Record<string, number> = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${k} needs a value`);
      return v;
    };
    switch (k) {
      case '--quick': a.quick = true; break;
      case '--full': a.quick = false; break;
      case '--reps': set['reps'] = Number(val()); break;
      case '--time': set['time'] = Number(val()); break;
      case '--warmup': set['warmup'] = Number(val()); break;
      case '--only': a.only.push(...val().split(',').filter(Boolean)); break;
      case '--no-rabbitmq': a.rabbitmq = false; break;
      case '--no-warren': a.warren = false; break;
      case '--no-ceiling': a.ceiling = false; break;
      case '--warren-cpu-prof': a.cpuProfDir = val(); break;
      case '--quiet-wait': a.quietWaitSec = Number(val()); break;
      case '--out': a.outDir = val(); break;
      case '--list':
        for (const s of [...scenarios, ...ceilingScenarios]) console.log(`${s.id.padEnd(24)} ${s.title}`);
        process.exit(0);
      // eslint-disable-next-line no-fallthrough
      case '--help': case '-h':
        console.log(help);
        process.exit(0);
      // eslint-disable-next-line no-fallthrough
      default:
        throw new Error(`unknown option ${k}\n${help}`);
    }
  }
  if (a.quick) {
    a.reps = 1;
    a.durationSec = 3;
    a.warmupSec = 1;
    a.embeddedReps = 3;
  }
  if (set['reps'] !== undefined) a.reps = set['reps'];
  if (set['time'] !== undefined) a.durationSec = set['time'];
  if (set['warmup'] !== undefined) a.warmupSec = set['warmup'];
  return a;
}

const tty = process.stdout.isTTY;
let statusPrefix = '';
function progress(line: string): void {
  if (tty) process.stdout.write(`\r\x1b[K${statusPrefix} ${line}`.slice(0, (process.stdout.columns || 120) + 4));
}
function log(line: string): void {
  if (tty) process.stdout.write('\r\x1b[K');
  console.log(line);
}

function runLine(r: PerfResult): string {
  if (!r.ok) return `failed: ${(r.error ?? '').split('\n')[0]}`;
  const parts = [`sent ${fmtNum(r.sentRate)}/s`];
  if (r.confirmed > 0) parts.push(`confirmed ${fmtNum(r.confirmedRate)}/s`);
  parts.push(`received ${fmtNum(r.receivedRate)}/s`);
  if (r.publishPhaseRate !== undefined) parts.push(`(publish phase ${fmtNum(r.publishPhaseRate)}/s, drain ${fmtNum(r.drainPhaseRate)}/s)`);
  if (r.latency.count > 0) parts.push(`p50 ${fmtNum(r.latency.p50Ms, 'ms')} ms p99 ${fmtNum(r.latency.p99Ms, 'ms')} ms`);
  if (r.rssQueuedBytes !== undefined && r.rssBeforeBytes !== undefined && r.queuedMessages) {
    parts.push(`RSS +${(((r.rssQueuedBytes - r.rssBeforeBytes) / r.queuedMessages)).toFixed(0)} B/msg`);
  }
  parts.push(`broker CPU ${fmtNum(r.brokerCpuPct)} % RSS ${fmtNum((r.brokerRssBytes ?? NaN) / 1048576, 'MB')} MB`);
  parts.push(`busiest client ${r.clientBusiest} ${fmtNum(r.clientCpuMaxPct)} %`);
  if (r.otherCpuPct !== undefined) parts.push(`other load ${fmtNum(r.otherCpuPct)} %`);
  return parts.join(', ');
}

function perfOptions(s: Scenario, mode: Mode, broker: RunningBroker): PerfOptions {
  const o: PerfOptions = {
    ...defaultPerfOptions,
    uri: broker.uri,
    durationSec: mode.durationSec,
    warmupSec: mode.warmupSec,
    ...s.options(mode),
    brokerPid: broker.pid,
    onProgress: progress,
  };
  o.timeoutSec = o.warmupSec + o.durationSec + 90 + (o.pmessages * o.producers) / 5000;
  return o;
}

async function embeddedStart(): Promise<{ importMs: number; startMs: number } | { error: string }> {
  const child = track(
    spawn(process.execPath, ['--conditions=warren-source', '--import', 'tsx', join(repoRoot, 'bench', 'src', 'embedded-start.ts')], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await new Promise((r) => child.once('exit', r));
  clearTimeout(timer);
  const line = out.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as { importMs: number; startMs: number } | { error: string };
  } catch {
    return { error: (err.trim().split('\n').find((l) => /error/i.test(l)) ?? err.trim().split('\n')[0] ?? 'no output').slice(0, 200) };
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const mode: Mode = { quick: args.quick, durationSec: args.durationSec, warmupSec: args.warmupSec };
  const chosen = args.only.length
    ? scenarios.filter((s) => args.only.some((o) => s.id.startsWith(o)))
    : scenarios;
  const ceilings = args.only.length ? ceilingScenarios.filter((s) => args.only.some((o) => s.id.startsWith(o))) : ceilingScenarios;
  const runCeiling = args.ceiling && (args.only.length === 0 || ceilings.length > 0);
  const modeName = args.quick ? 'quick' : 'full';
  log(`Warren vs RabbitMQ, ${modeName} mode: ${chosen.length} scenario(s) x ${args.reps} repetition(s) x ${args.durationSec} s (+${args.warmupSec} s warm-up)`);

  const commit = headCommit();
  const report: Report = {
    meta: {
      date: new Date().toISOString(),
      mode: modeName,
      repetitions: args.reps,
      durationSec: args.durationSec,
      warmupSec: args.warmupSec,
      cpus: `${cpus().length} x ${cpus()[0]?.model.trim() ?? 'cpu'}`,
      memory: `${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
      node: process.versions.node,
      rabbitmq: rabbitmqVersion(),
      warrenCommit: commit,
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    },
    ceiling: [],
    startup: {},
    scenarios: [],
    targets: [],
  };

  // ---- 1. the load generator's own ceiling
  if (runCeiling) {
    let discard: RunningBroker | undefined;
    try {
      discard = await startDiscard();
      for (const s of ceilings.length ? ceilings : ceilingScenarios) {
        statusPrefix = `[ceiling ${s.id}]`;
        const r = await runPerf(perfOptions(s, mode, discard));
        log(`ceiling  ${s.id.padEnd(22)} ${runLine(r)}`);
        report.ceiling.push({
          id: s.id,
          title: s.title,
          sentRate: r.sentRate,
          receivedRate: r.receivedRate,
          clientCpuMaxPct: r.clientCpuMaxPct,
          ...(r.ok ? {} : { error: r.error ?? 'failed' }),
        });
      }
    } catch (e) {
      log(`ceiling check failed: ${(e as Error).message}`);
    } finally {
      await discard?.stop();
    }
  }

  // ---- 2. brokers
  let rabbit: RunningBroker | undefined;
  let rabbitError = '';
  const rabbitStarts: number[] = [];
  if (args.rabbitmq && chosen.length) {
    statusPrefix = '[starting RabbitMQ]';
    progress('');
    try {
      rabbit = await startRabbitmq(log);
      rabbitStarts.push(rabbit.startMs);
      log(`RabbitMQ ${report.meta.rabbitmq} accepting AMQP on ${rabbit.port} after ${rabbit.startMs.toFixed(0)} ms (pid ${rabbit.pid})`);
    } catch (e) {
      rabbitError = (e as Error).message;
      log(`RabbitMQ unavailable: ${rabbitError}`);
    }
  }
  let warren: RunningBroker | undefined;
  let warrenError = '';
  let warrenFailures = 0;
  const warrenStarts: number[] = [];
  const ensureWarren = async (): Promise<RunningBroker | undefined> => {
    if (warren?.alive()) return warren;
    if (warren) {
      log(`Warren's broker died (${warren.logTail().split('\n').pop() ?? ''}); restarting it`);
      await warren.stop();
      warren = undefined;
    }
    if (warrenFailures >= 3) return undefined;
    statusPrefix = "[starting Warren's broker]";
    progress('');
    try {
      const start = (): Promise<RunningBroker> => startWarren(args.cpuProfDir ? { cpuProfDir: args.cpuProfDir } : {});
      // One immediate retry: a start can fail for reasons that have nothing to do with the broker (a busy machine).
      warren = await start().catch((e: unknown) => {
        log(`Warren's broker failed to start (${(e as Error).message.split('\n')[0]}); trying once more`);
        return start();
      });
      warrenStarts.push(warren.startMs);
      log(`Warren accepting AMQP on ${warren.port} after ${warren.startMs.toFixed(0)} ms (pid ${warren.pid})`);
      warrenError = '';
      return warren;
    } catch (e) {
      warrenFailures++;
      warrenError = (e as Error).message;
      log(`Warren unavailable: ${warrenError.split('\n')[0]}`);
      return undefined;
    }
  };

  try {
    if (args.warren && chosen.length) {
      await ensureWarren();
      // ---- 3. embedded start
      const emb: { importMs: number; startMs: number }[] = [];
      for (let i = 0; i < args.embeddedReps; i++) {
        statusPrefix = `[embedded start ${i + 1}/${args.embeddedReps}]`;
        progress('');
        const r = await embeddedStart();
        if ('error' in r) {
          report.startup.warrenEmbeddedError = r.error;
          break;
        }
        emb.push(r);
      }
      const es = stat(emb.map((e) => e.startMs));
      const ei = stat(emb.map((e) => e.importMs));
      if (es) report.startup.warrenEmbedded = es;
      if (ei) report.startup.warrenEmbeddedImport = ei;
      log(
        es
          ? `Warren embedded start to accepting connections: median ${es.median.toFixed(1)} ms (${es.min.toFixed(1)}–${es.max.toFixed(1)}), import ${ei?.median.toFixed(0)} ms`
          : `Warren embedded start unavailable: ${report.startup.warrenEmbeddedError ?? ''}`,
      );
    }

    // ---- 4. scenarios, interleaved
    let idx = 0;
    for (const s of chosen) {
      idx++;
      const sides: Record<'rabbitmq' | 'warren', BrokerSide> = {
        rabbitmq: { runs: [], errors: [] },
        warren: { runs: [], errors: [] },
      };
      for (let rep = 1; rep <= args.reps; rep++) {
        for (const which of ['rabbitmq', 'warren'] as const) {
          if (which === 'rabbitmq' && !args.rabbitmq) continue;
          if (which === 'warren' && !args.warren) continue;
          const name = which === 'rabbitmq' ? 'RabbitMQ' : 'Warren';
          statusPrefix = `[${idx}/${chosen.length} ${s.id} rep ${rep}/${args.reps} ${name}]`;
          if (s.freshBroker && which === 'rabbitmq' && rabbit) {
            statusPrefix = `[${idx}/${chosen.length} ${s.id} rep ${rep}/${args.reps} restarting RabbitMQ]`;
            progress('');
            await rabbit.stop();
            rabbit = undefined;
            try {
              rabbit = await startRabbitmq(log);
              rabbitStarts.push(rabbit.startMs);
            } catch (e) {
              rabbitError = (e as Error).message;
            }
          }
          if (s.freshBroker && which === 'warren' && warren) {
            await warren.stop();
            warren = undefined;
          }
          const broker = which === 'rabbitmq' ? rabbit : await ensureWarren();
          if (!broker || !broker.alive()) {
            sides[which].errors.push(`unavailable: ${(which === 'rabbitmq' ? rabbitError : warrenError).split('\n')[0] || 'broker not running'}`);
            log(`${name.padEnd(8)} ${s.id.padEnd(22)} rep ${rep}: unavailable`);
            continue;
          }
          progress('waiting for the broker to be idle');
          await settle(broker.pid);
          if (args.quietWaitSec > 0) {
            progress(`waiting up to ${args.quietWaitSec} s for the machine to be quiet`);
            await quiet(args.quietWaitSec);
          }
          const r = await runPerf(perfOptions(s, mode, broker));
          if (!broker.alive()) {
            r.ok = false;
            r.error = `broker exited during the run${r.error ? `; ${r.error}` : ''}`;
          }
          sides[which].runs.push(r);
          if (!r.ok) sides[which].errors.push(r.error ?? 'failed');
          log(`${name.padEnd(8)} ${s.id.padEnd(22)} rep ${rep}: ${runLine(r)}`);
          await new Promise((res) => setTimeout(res, 500));
        }
      }
      const rabbitmq = summarize(sides.rabbitmq, s.metric.value);
      const warrenSide = summarize(sides.warren, s.metric.value);
      const sr: ScenarioReport = {
        id: s.id,
        title: s.title,
        short: s.short,
        what: s.what,
        metricName: s.metric.name,
        unit: s.metric.unit,
        higherIsBetter: s.metric.higherIsBetter,
        rabbitmq,
        warren: warrenSide,
      };
      if (rabbitmq.metric && warrenSide.metric && rabbitmq.metric.median !== 0) {
        sr.ratio = warrenSide.metric.median / rabbitmq.metric.median;
      }
      report.scenarios.push(sr);
      if (sr.ratio !== undefined) log(`         ${s.id.padEnd(22)} Warren / RabbitMQ (${s.metric.name}): ${sr.ratio.toFixed(2)}x`);
    }
  } finally {
    statusPrefix = '[stopping brokers]';
    progress('');
    await warren?.stop();
    await rabbit?.stop();
  }
  const ws = stat(warrenStarts);
  const rs = stat(rabbitStarts);
  if (ws) report.startup.warrenBinaryMs = ws;
  if (rs) report.startup.rabbitmqMs = rs;

  // ---- 5. targets
  const sc = (id: string): ScenarioReport | undefined => report.scenarios.find((s) => s.id === id);
  const ratioTarget = (name: string, id: string, want: number, atLeast: boolean): TargetReport => {
    const s = sc(id);
    const r = s?.ratio;
    return {
      name,
      want: `${atLeast ? '≥' : '≤'} ${want}× RabbitMQ`,
      got: r === undefined ? (s ? 'no comparison' : 'not run') : `${r.toFixed(2)}× (${fmtNum(s?.warren.metric?.median, s?.unit)} vs ${fmtNum(s?.rabbitmq.metric?.median, s?.unit)} ${s?.unit})`,
      met: r === undefined ? null : atLeast ? r >= want : r <= want,
    };
  };
  report.targets.push(ratioTarget('1P/1C 16 B transient autoack throughput', 'autoack-16b', 3, true));
  report.targets.push(ratioTarget('1 KB persistent, confirms + acks throughput', 'persistent-1kb-confirm', 2, true));
  report.targets.push(ratioTarget('p99 latency at fixed 5,000 msg/s', 'fixed-5000-latency', 1, false));
  report.targets.push(ratioTarget('RSS per queued message', 'rss-queued', 0.5, false));
  const emb = report.startup.warrenEmbedded;
  report.targets.push({
    name: 'Embedded start to accepting connections',
    want: '≤ 50 ms',
    got: emb ? `${emb.median.toFixed(1)} ms` : 'not measured',
    met: emb ? emb.median <= 50 : null,
  });

  // ---- 6. output
  mkdirSync(args.outDir, { recursive: true });
  const base = join(args.outDir, `throughput-${modeName}${args.only.length ? '-partial' : ''}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  const md = markdown(report);
  writeFileSync(`${base}.md`, `${md}\n`);
  writeFileSync(`${base}.svg`, svg(report));
  log('');
  log(md);
  log('');
  for (const t of report.targets) {
    log(`target ${t.met === null ? 'n/a    ' : t.met ? 'met    ' : 'not met'}  ${t.name}: want ${t.want}, got ${t.got}`);
  }
  log(`\nwrote ${base}.json, .md and .svg`);
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
