/**
 * Bulk TCP only: Warren vs haproxy (and optionally another Warren build, e.g. the commit before a change),
 * interleaved, with MB/s and proxy CPU per GB piped for each repetition. Quicker and finer than run.ts for work on
 * the data path; CPU per GB is the figure that survives a noisy machine.
 *
 *   node --conditions=warren-source --import tsx bench/proxy/bulk-cpu.ts [--reps 7] [--mib 512] [--conns 1,4] [--before DIR [--before-name TEXT]]
 *
 * --before DIR: a checkout of another Warren (e.g. `git worktree add /tmp/before HEAD~3`); its proxy runs as the
 * target "before", described in the report as TEXT (default: DIR). Writes bench/results/proxy-bulk.{json,md}.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { cpuMs, freePort, HAPROXY, proxyConfig, ROOT, start, startSink, stop, tempDir, waitForPort } from './processes.ts';
import { bulkThroughput } from './tcp-bulk.ts';

const arg = (name: string, dflt: string | null): string | null => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const MB = 1024 * 1024;
const reps = Number(arg('--reps', '7'));
const mib = Number(arg('--mib', '512'));
const connsList = (arg('--conns', '1,4') as string).split(',').map(Number);
const before = arg('--before', null);
const beforeName = arg('--before-name', before);

const median = (xs: number[]): number => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  const sink = await startSink();
  const dir = tempDir();
  const targets: { name: string; port: number; pid: number | undefined; proc: ReturnType<typeof start> }[] = [];
  const add = async (name: string, cmd: string, args: (cfg: string) => string[]): Promise<void> => {
    const port = await freePort();
    const cfg = join(dir, `${name}.cfg`);
    writeFileSync(cfg, proxyConfig([{ name: 'bulk', port, server: sink.port }]));
    const proc = start(cmd, args(cfg), { quiet: true });
    await waitForPort(port);
    targets.push({ name, port, pid: proc.pid, proc });
  };
  const warren = (root: string) => (cfg: string) => ['--conditions=warren-source', '--import', 'tsx', join(root, 'packages/proxy/src/bin/proxy.ts'), '-q', '-f', cfg];
  if (before) await add('before', process.execPath, warren(before));
  await add('warren', process.execPath, warren(ROOT));
  await add('haproxy', HAPROXY, (cfg) => ['-db', '-q', '-f', cfg]);

  for (const t of targets) await bulkThroughput(t.port, 1, 64 * MB); // warm-up
  const samples: Record<string, { mbps: number[]; cpuMsPerGB: number[] }> = {};
  for (let r = 0; r < reps; r++) {
    for (const conns of connsList) {
      for (const t of targets) {
        const key = `${t.name} x${conns}`;
        const s = (samples[key] ??= { mbps: [], cpuMsPerGB: [] });
        const per = Math.floor((mib * MB) / conns);
        const c0 = cpuMs(t.pid);
        const mbps = await bulkThroughput(t.port, conns, per);
        const cpu = ((cpuMs(t.pid) - c0) / (conns * per)) * 1e9; // per GB piped, each byte counted once
        s.mbps.push(mbps);
        s.cpuMsPerGB.push(cpu);
        process.stderr.write(`rep ${r + 1}/${reps} ${key.padEnd(11)} ${mbps.toFixed(0).padStart(6)} MB/s ${cpu.toFixed(0).padStart(5)} ms/GB\n`);
      }
    }
  }
  const rows: string[] = [];
  const summary: Record<string, unknown> = {};
  for (const conns of connsList) {
    const h = samples[`haproxy x${conns}`] as { mbps: number[]; cpuMsPerGB: number[] };
    for (const t of targets) {
      const s = samples[`${t.name} x${conns}`] as { mbps: number[]; cpuMsPerGB: number[] };
      // The ratio per repetition, against the haproxy run right next to it, then the median.
      const ratio = median(s.mbps.map((x, i) => x / (h.mbps[i] as number)));
      summary[`${t.name} x${conns}`] = { mbps: median(s.mbps), cpuMsPerGB: median(s.cpuMsPerGB), ratioToHaproxy: ratio };
      rows.push(`| ${t.name} | ${conns} | ${median(s.mbps).toFixed(0)} | ${median(s.cpuMsPerGB).toFixed(0)} | ${t.name === 'haproxy' ? '' : ratio.toFixed(2)} |`);
    }
  }
  const when = new Date().toISOString();
  const md = [
    `# Proxy bulk TCP (${when})`,
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? ''}, Node ${process.version}. ${reps} interleaved repetitions of ${mib} MiB per run; medians.`,
    before ? `"before" is Warren's proxy at ${beforeName}.` : '',
    '',
    '| target | conns | MB/s | proxy CPU ms/GB | MB/s ÷ haproxy (median of per-rep ratios) |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
  const base = join(ROOT, 'bench', 'results', 'proxy-bulk');
  writeFileSync(`${base}.json`, JSON.stringify({ when, machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '', node: process.version }, reps, mib, conns: connsList, before: beforeName, summary, samples }, null, 2) + '\n');
  writeFileSync(`${base}.md`, md);
  process.stdout.write(md);
  for (const t of targets) await stop(t.proc);
  await stop(sink.proc);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
