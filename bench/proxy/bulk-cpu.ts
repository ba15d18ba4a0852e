/**
 * Bulk TCP only, Warren vs haproxy, interleaved: MB/s and proxy CPU per GB for each repetition. A quicker loop than
 * run.ts for working on the pipe.
 *
 *   node --import tsx bench/proxy/bulk-cpu.ts [--reps N] [--mib N] [--conns 1,4]
 */
import { cpuMs, freePort, proxyConfig, startProxies, startSink, stop } from './processes.ts';
import { bulkThroughput } from './tcp-bulk.ts';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const MB = 1024 * 1024;
const reps = Number(arg('--reps', '5'));
const mib = Number(arg('--mib', '256'));
const connsList = arg('--conns', '1,4').split(',').map(Number);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  const sink = await startSink();
  const port = await freePort();
  const p = await startProxies(proxyConfig([{ name: 'bulk', port, server: sink.port }]), [port]);
  const targets = [
    { name: 'warren', port: p.warrenPorts[0] as number, pid: p.warren.pid },
    { name: 'haproxy', port: p.haproxyPorts[0] as number, pid: p.haproxy?.pid },
  ];
  for (const t of targets) await bulkThroughput(t.port, 1, 32 * MB);
  const res: Record<string, { mbps: number[]; cpu: number[] }> = {};
  for (let r = 0; r < reps; r++) {
    for (const conns of connsList) {
      for (const t of targets) {
        const key = `${t.name} x${conns}`;
        res[key] ??= { mbps: [], cpu: [] };
        const c0 = cpuMs(t.pid);
        const per = Math.floor((mib * MB) / conns);
        const mbps = await bulkThroughput(t.port, conns, per);
        // Per GB piped: each byte counted once, as run.ts does.
        const cpu = ((cpuMs(t.pid) - c0) / (conns * per)) * 1e9;
        res[key].mbps.push(mbps);
        res[key].cpu.push(cpu);
        process.stderr.write(`rep ${r + 1} ${key.padEnd(11)} ${mbps.toFixed(0).padStart(6)} MB/s ${cpu.toFixed(0).padStart(5)} ms/GB\n`);
      }
    }
  }
  for (const conns of connsList) {
    const w = res[`warren x${conns}`] as { mbps: number[]; cpu: number[] };
    const h = res[`haproxy x${conns}`] as { mbps: number[]; cpu: number[] };
    const ratios = w.mbps.map((x, i) => x / (h.mbps[i] as number));
    process.stdout.write(
      `x${conns}: warren ${median(w.mbps).toFixed(0)} MB/s ${median(w.cpu).toFixed(0)} ms/GB | haproxy ${median(h.mbps).toFixed(0)} MB/s ${median(h.cpu).toFixed(0)} ms/GB | ratio of medians ${(median(w.mbps) / median(h.mbps)).toFixed(2)}, median of per-rep ratios ${median(ratios).toFixed(2)}\n`,
    );
  }
  await stop(p.warren);
  if (p.haproxy) await stop(p.haproxy);
  await stop(sink.proc);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
