/**
 * AMQP only: direct, Warren (and optionally an earlier Warren checkout), haproxy, interleaved. Per target: throughput
 * of `--count` messages with the proxy's CPU per message, then publish→deliver latency at 5000 msg/s for `--secs`.
 * A quicker check than run.ts that a change to the data path did not cost the AMQP figures.
 *
 *   node --conditions=warren-source --import tsx bench/proxy/amqp-ab.ts [--reps 5] [--count 50000] [--secs 3] [--before DIR]
 */
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { amqpLatency, amqpThroughput } from './amqp-load.ts';
import { cpuMs, freePort, HAPROXY, proxyConfig, ROOT, start, startBroker, stop, tempDir, waitForPort } from './processes.ts';

const arg = (name: string, dflt: string | null): string | null => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const reps = Number(arg('--reps', '5'));
const count = Number(arg('--count', '50000'));
const secs = Number(arg('--secs', '3'));
const before = arg('--before', null);
const RATE = 5000;

const median = (xs: number[]): number => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  const broker = await startBroker();
  const dir = tempDir();
  const targets: { name: string; port: number; proc: ReturnType<typeof start> | null }[] = [{ name: 'direct', port: broker.port, proc: null }];
  const add = async (name: string, cmd: string, args: (cfg: string) => string[]): Promise<void> => {
    const port = await freePort();
    const cfg = join(dir, `${name}.cfg`);
    writeFileSync(cfg, proxyConfig([{ name: 'amqp', port, server: broker.port }]));
    const proc = start(cmd, args(cfg), { quiet: true });
    await waitForPort(port);
    targets.push({ name, port, proc });
  };
  const warren = (root: string) => (cfg: string) => ['--conditions=warren-source', '--import', 'tsx', join(root, 'packages/proxy/src/bin/proxy.ts'), '-q', '-f', cfg];
  if (before) await add('before', process.execPath, warren(before));
  await add('warren', process.execPath, warren(ROOT));
  await add('haproxy', HAPROXY, (cfg) => ['-db', '-q', '-f', cfg]);
  for (const t of targets) await amqpThroughput(t.port, 5000); // warm-up

  const r: Record<string, { tput: number[]; cpuUs: number[]; p50: number[]; p99: number[] }> = {};
  for (let rep = 0; rep < reps; rep++) {
    for (const t of targets) {
      const s = (r[t.name] ??= { tput: [], cpuUs: [], p50: [], p99: [] });
      const c0 = cpuMs(t.proc?.pid);
      s.tput.push(await amqpThroughput(t.port, count));
      s.cpuUs.push(((cpuMs(t.proc?.pid) - c0) * 1000) / count);
      const lat = await amqpLatency(t.port, RATE, secs);
      s.p50.push(lat.p50);
      s.p99.push(lat.p99);
      process.stderr.write(`rep ${rep + 1}/${reps} ${t.name.padEnd(7)} ${s.tput.at(-1)?.toFixed(0)} msg/s  p50/p99 ${lat.p50.toFixed(2)}/${lat.p99.toFixed(2)} ms\n`);
    }
  }
  const lines = ['| target | msg/s | ÷ haproxy (median of per-rep ratios) | proxy CPU µs/msg | latency p50 / p99 ms |', '|---|---|---|---|---|'];
  const h = r.haproxy as { tput: number[] };
  for (const t of targets) {
    const s = r[t.name] as { tput: number[]; cpuUs: number[]; p50: number[]; p99: number[] };
    const ratio = median(s.tput.map((x, i) => x / (h.tput[i] as number)));
    lines.push(`| ${t.name} | ${median(s.tput).toFixed(0)} | ${ratio.toFixed(2)} | ${t.proc ? median(s.cpuUs).toFixed(2) : ''} | ${median(s.p50).toFixed(2)} / ${median(s.p99).toFixed(2)} |`);
  }
  process.stdout.write(`${reps} reps, ${count} msgs of 256 B; latency at ${RATE} msg/s for ${secs} s\n${lines.join('\n')}\n`);
  for (const t of targets) if (t.proc) await stop(t.proc);
  await stop(broker.proc);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
