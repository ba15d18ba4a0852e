/**
 * Proxy bench: raw bulk TCP and AMQP (throughput, latency at a fixed rate) direct vs through Warren's proxy vs
 * through haproxy, both proxies running the same haproxy.cfg. Runs are interleaved (direct, warren, haproxy,
 * direct, ...) over several repetitions and medians are reported, with the Warren/haproxy ratio.
 *
 *   node --conditions=warren-source --import tsx bench/proxy/run.ts [--quick] [--no-amqp]
 *
 * Writes bench/results/proxy-{quick,full}.{json,md}.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { amqpLatency, amqpThroughput, type Latency } from './amqp-load.ts';
import { cpuMs, freePort, HAPROXY, proxyConfig, ROOT, startBroker, startEcho, startProxies, startSink, stop } from './processes.ts';
import { bulkThroughput } from './tcp-bulk.ts';
import { tcpRtt, type Rtt } from './tcp-latency.ts';

const quick = process.argv.includes('--quick');
const withAmqp = !process.argv.includes('--no-amqp') && existsSync(join(ROOT, 'packages/broker/src/bin/broker.ts'));
const MB = 1024 * 1024;
const P = quick
  ? { reps: 3, bulk1: 64 * MB, bulk4: 16 * MB, amqpCount: 20_000, latRate: 5000, latSeconds: 2 }
  : { reps: 5, bulk1: 512 * MB, bulk4: 128 * MB, amqpCount: 100_000, latRate: 5000, latSeconds: 5 };

type Target = 'direct' | 'warren' | 'haproxy';
const TARGETS: Target[] = ['direct', 'warren', 'haproxy'];

interface Samples {
  bulk1: number[];
  bulk4: number[];
  bulkCpuMsPerGB: number[];
  rtt: Rtt[];
  amqpTput: number[];
  amqpCpuUsPerMsg: number[];
  lat: Latency[];
}

const median = (xs: number[]): number => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const fmt = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

async function main(): Promise<void> {
  const hasHaproxy = existsSync(HAPROXY);
  const sink = await startSink();
  const echo = await startEcho();
  const broker = withAmqp ? await startBroker() : null;
  const listens = [
    { name: 'bulk', port: await freePort(), server: sink.port },
    { name: 'echo', port: await freePort(), server: echo.port },
  ];
  if (broker) listens.push({ name: 'amqp', port: await freePort(), server: broker.port });
  const proxies = await startProxies(proxyConfig(listens), listens.map((l) => l.port));
  const port = (t: Target, i: number): number =>
    t === 'direct' ? ((listens[i] as { server: number }).server) : t === 'warren' ? (proxies.warrenPorts[i] as number) : (proxies.haproxyPorts[i] as number);
  const targets = TARGETS.filter((t) => t !== 'haproxy' || (hasHaproxy && proxies.haproxy));
  const samples = Object.fromEntries(
    targets.map((t) => [t, { bulk1: [], bulk4: [], bulkCpuMsPerGB: [], rtt: [], amqpTput: [], amqpCpuUsPerMsg: [], lat: [] } as Samples]),
  ) as Record<Target, Samples>;
  const pid = (t: Target): number | undefined => (t === 'warren' ? proxies.warren.pid : t === 'haproxy' ? proxies.haproxy?.pid : undefined);

  // Warm-up: JIT, connection pools, page cache.
  for (const t of targets) await bulkThroughput(port(t, 0), 1, 16 * MB);
  if (broker) for (const t of targets) await amqpThroughput(port(t, 2), 2000);

  for (let rep = 0; rep < P.reps; rep++) {
    for (const t of targets) {
      const s = samples[t];
      let cpu0 = cpuMs(pid(t));
      s.bulk1.push(await bulkThroughput(port(t, 0), 1, P.bulk1));
      s.bulk4.push(await bulkThroughput(port(t, 0), 4, P.bulk4));
      s.bulkCpuMsPerGB.push(((cpuMs(pid(t)) - cpu0) / (2 * P.bulk1 + 4 * P.bulk4)) * 1e9);
      s.rtt.push(await tcpRtt(port(t, 1), P.latRate, P.latSeconds));
      if (broker) {
        s.amqpTput.push(await amqpThroughput(port(t, 2), P.amqpCount));
        // Per-message proxy CPU is measured at the fixed rate, where each message is its own write.
        cpu0 = cpuMs(pid(t));
        const lat = await amqpLatency(port(t, 2), P.latRate, P.latSeconds);
        s.amqpCpuUsPerMsg.push(((cpuMs(pid(t)) - cpu0) * 1000) / lat.sent);
        s.lat.push(lat);
      }
      process.stderr.write(
        `rep ${rep + 1}/${P.reps} ${t.padEnd(7)} bulk1 ${fmt(s.bulk1.at(-1) ?? NaN)} MB/s  bulk4 ${fmt(s.bulk4.at(-1) ?? NaN)} MB/s` +
          `  rtt p50/p99 ${fmt(s.rtt.at(-1)?.p50us ?? NaN, 0)}/${fmt(s.rtt.at(-1)?.p99us ?? NaN, 0)} us` +
          (broker ? `  amqp ${fmt(s.amqpTput.at(-1) ?? NaN, 0)} msg/s  p99 ${fmt(s.lat.at(-1)?.p99 ?? NaN, 2)} ms` : '') +
          '\n',
      );
    }
  }

  const summary: Record<string, Record<string, number>> = {};
  for (const t of targets) {
    const s = samples[t];
    summary[t] = {
      bulk1MBps: median(s.bulk1),
      bulk4MBps: median(s.bulk4),
      bulkCpuMsPerGB: median(s.bulkCpuMsPerGB),
      rttP50us: median(s.rtt.map((r) => r.p50us)),
      rttP99us: median(s.rtt.map((r) => r.p99us)),
      addedRttP50us: t === 'direct' ? 0 : median(s.rtt.map((r, i) => r.p50us - (samples.direct.rtt[i]?.p50us ?? NaN))),
      addedRttP99us: t === 'direct' ? 0 : median(s.rtt.map((r, i) => r.p99us - (samples.direct.rtt[i]?.p99us ?? NaN))),
      amqpCpuUsPerMsg: median(s.amqpCpuUsPerMsg),
      amqpMsgps: median(s.amqpTput),
      latP50ms: median(s.lat.map((l) => l.p50)),
      latP99ms: median(s.lat.map((l) => l.p99)),
      // Added latency: per repetition against the direct run next to it, then the median.
      addedP99ms: t === 'direct' ? 0 : median(s.lat.map((l, i) => l.p99 - (samples.direct.lat[i]?.p99 ?? NaN))),
    };
  }
  const w = summary.warren ?? {};
  const h = summary.haproxy ?? {};
  const ratios = {
    bulk1: (w.bulk1MBps ?? NaN) / (h.bulk1MBps ?? NaN),
    bulk4: (w.bulk4MBps ?? NaN) / (h.bulk4MBps ?? NaN),
    amqp: (w.amqpMsgps ?? NaN) / (h.amqpMsgps ?? NaN),
  };
  const result = {
    when: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '', node: process.version },
    params: P,
    amqp: Boolean(broker),
    broker: broker ? "Warren's broker (packages/broker, --memory)" : null,
    haproxy: hasHaproxy ? HAPROXY : null,
    summary,
    ratiosWarrenOverHaproxy: ratios,
    samples,
  };
  const outDir = join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const base = join(outDir, `proxy-${quick ? 'quick' : 'full'}`);
  writeFileSync(`${base}.json`, JSON.stringify(result, null, 2) + '\n');
  const v = (t: Target, k: string, d = 1): string => fmt(summary[t]?.[k] ?? NaN, d);
  const rows = targets.map(
    (t) =>
      `| ${t} | ${v(t, 'bulk1MBps')} | ${v(t, 'bulk4MBps')} | ${t === 'direct' ? '' : v(t, 'bulkCpuMsPerGB', 0)} | ` +
      `${v(t, 'rttP50us', 0)} / ${v(t, 'rttP99us', 0)} | ${t === 'direct' ? '' : `${v(t, 'addedRttP50us', 0)} / ${v(t, 'addedRttP99us', 0)}`} | ` +
      (broker
        ? `${v(t, 'amqpMsgps', 0)} | ${t === 'direct' ? '' : v(t, 'amqpCpuUsPerMsg', 2)} | ${v(t, 'latP50ms', 2)} / ${v(t, 'latP99ms', 2)} | ${t === 'direct' ? '' : v(t, 'addedP99ms', 2)} |`
        : 'n/a | | n/a | |'),
  );
  const md = [
    `# Proxy bench (${result.mode}, ${result.when})`,
    '',
    `Machine: ${result.machine.cpus} × ${result.machine.model}, Node ${result.machine.node}. Medians of ${P.reps} interleaved repetitions.`,
    `Bulk: 1 connection × ${P.bulk1 / MB} MiB and 4 connections × ${P.bulk4 / MB} MiB uploaded to a sink. ` +
      `TCP RTT: 64-byte messages at ${P.latRate}/s for ${P.latSeconds}s on one connection to an echo server. ` +
      (broker ? `AMQP: ${P.amqpCount} msgs of 256 B, one publisher and one consumer connection; latency at ${P.latRate} msg/s for ${P.latSeconds}s.` : 'AMQP: not run.'),
    '',
    '| target | bulk 1 conn MB/s | bulk 4 conns MB/s | proxy CPU ms/GB | TCP RTT p50/p99 µs | added RTT p50/p99 µs | AMQP msg/s | proxy CPU µs/msg | AMQP latency p50/p99 ms | added AMQP p99 ms |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Warren / haproxy: bulk 1 conn ${fmt(ratios.bulk1, 2)}, bulk 4 conns ${fmt(ratios.bulk4, 2)}, AMQP throughput ${fmt(ratios.amqp, 2)}.`,
    `Targets: throughput ratio ≥ 0.95; added p99 at ${P.latRate} msg/s no more than haproxy's: ` +
      `TCP RTT Warren ${fmt(w.addedRttP99us ?? NaN, 0)} µs vs haproxy ${fmt(h.addedRttP99us ?? NaN, 0)} µs; ` +
      `AMQP Warren ${fmt(w.addedP99ms ?? NaN, 2)} ms vs haproxy ${fmt(h.addedP99ms ?? NaN, 2)} ms.`,
    `Proxy CPU: Warren ${fmt(w.bulkCpuMsPerGB ?? NaN, 0)} ms/GB vs haproxy ${fmt(h.bulkCpuMsPerGB ?? NaN, 0)} ms/GB in bulk; ` +
      `${fmt(w.amqpCpuUsPerMsg ?? NaN, 2)} vs ${fmt(h.amqpCpuUsPerMsg ?? NaN, 2)} µs per AMQP message at ${P.latRate} msg/s (publish + deliver).`,
    'The machine is shared and noisy: compare the ratios and the CPU figures rather than absolute numbers.',
    '',
  ].join('\n');
  writeFileSync(`${base}.md`, md);
  process.stdout.write(md);
  await stop(proxies.warren);
  if (proxies.haproxy) await stop(proxies.haproxy);
  if (broker) await stop(broker.proc);
  await stop(sink.proc);
  await stop(echo.proc);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`bench failed: ${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
