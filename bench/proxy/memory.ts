/**
 * Proxy memory and accept rate, Warren vs haproxy 2.6 side by side: both run the same haproxy.cfg, started fresh for
 * each repetition, the two interleaved; medians over the repetitions.
 *
 *   node --conditions=warren-source --import tsx bench/proxy/memory.ts [--reps 5] [--idle 2000] [--slow 200] [--before DIR [--before-name TEXT]]
 *
 * Each repetition, for each target:
 *   1. idle RSS, 1.5 s after the proxy listens;
 *   2. accept: `--idle` clients connect (100 at a time) and each waits for the backend's greeting through the proxy;
 *      the rate is clients per second from the first connect to the last greeting;
 *   3. RSS with those connections idle, 1.5 s later: (RSS - idle RSS) / connections is the cost of an idle connection;
 *   4. the idle clients leave; RSS once it has settled (3 s, then no change over 1 s, at most 10 s more);
 *   5. `--slow` clients connect to a backend that sends as fast as it can, and read one chunk every 200 ms (slow
 *      readers); RSS after 4 s: (RSS - RSS of step 4) / readers is the cost of a slow reader;
 *   6. the slow readers leave; RSS once it has settled, as in step 4: memory after the slow readers.
 * Warren's proxy runs through packages/proxy/bin/proxy, as a user starts it. RSS is VmRSS from /proc/PID/status (for
 * Warren: the proxy process and any child it has, such as a compiler service).
 * Writes bench/results/proxy-memory.{json,md}.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { freePort, HAPROXY, ROOT, start, stop, tempDir, waitForPort } from './processes.ts';

const arg = (name: string, dflt: string | null): string | null => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const reps = Number(arg('--reps', '5'));
const IDLE = Number(arg('--idle', '2000'));
const SLOW = Number(arg('--slow', '200'));
const before = arg('--before', null);
const beforeName = arg('--before-name', before);
const CONNECT_CONCURRENCY = 100;
const SLOW_READ_INTERVAL_MS = 200;
const SLOW_PHASE_MS = 4000;
// Warren collects garbage 2 s after a crowd of sessions has left (src/memory-trim.ts).
const SETTLE_MIN_MS = 3000;

const median = (xs: number[]): number => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Backends: one greets each connection with a byte and then idles; the other sends as fast as the reader takes. */
const BACKENDS_JS = `
const net = require('node:net');
const [idlePort, sourcePort] = process.argv.slice(1).map(Number);
net.createServer((s) => { s.on('error', () => {}); s.write('g'); }).listen(idlePort, '127.0.0.1');
const chunk = Buffer.alloc(64 * 1024, 120);
net.createServer((s) => {
  s.on('error', () => {});
  const pump = () => { while (!s.destroyed && s.write(chunk)); };
  s.on('drain', pump);
  pump();
}).listen(sourcePort, '127.0.0.1');
`;

function rssKb(pid: number): number {
  let total = 0;
  const add = (p: number): void => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      total += Number(m?.[1] ?? 0);
      for (const t of readdirSync(`/proc/${p}/task`)) {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(' ').filter(Boolean)) add(Number(c));
      }
    } catch {
      // gone
    }
  };
  add(pid);
  return total;
}

function connectMany(port: number, n: number, greeting: boolean): Promise<net.Socket[]> {
  return new Promise((resolve, reject) => {
    const sockets: net.Socket[] = [];
    let started = 0;
    let done = 0;
    const next = (): void => {
      if (started >= n) return;
      started++;
      const s = net.connect(port, '127.0.0.1');
      s.on('error', reject);
      sockets.push(s);
      const ok = (): void => {
        if (++done === n) resolve(sockets);
        else next();
      };
      if (greeting) s.once('data', ok);
      else s.once('connect', ok);
    };
    for (let i = 0; i < Math.min(CONNECT_CONCURRENCY, n); i++) next();
  });
}

async function closeAll(sockets: net.Socket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((r) => {
          if (s.destroyed) return r();
          s.once('close', () => r());
          s.destroy();
        }),
    ),
  );
}

/** RSS once it has settled: at least SETTLE_MIN_MS after the clients left, then no change over 1 s (at most 10 s). */
async function settledRss(pid: number): Promise<number> {
  await sleep(SETTLE_MIN_MS);
  let last = rssKb(pid);
  for (let i = 0; i < 10; i++) {
    await sleep(1000);
    const now = rssKb(pid);
    if (Math.abs(now - last) < 256) return now;
    last = now;
  }
  return last;
}

interface Sample {
  idleKb: number;
  acceptPerS: number;
  perIdleConnKb: number;
  afterIdleKb: number;
  perSlowReaderKb: number;
  slowKb: number;
  afterSlowKb: number;
}

async function runOnce(cmd: string, args: string[], idlePort: number, sourcePort: number): Promise<Sample> {
  const proc = start(cmd, args, { quiet: true });
  await waitForPort(idlePort);
  await waitForPort(sourcePort);
  const pid = proc.pid as number;
  await sleep(1500);
  const idleKb = rssKb(pid);
  const t0 = performance.now();
  const idle = await connectMany(idlePort, IDLE, true);
  const acceptPerS = IDLE / ((performance.now() - t0) / 1000);
  await sleep(1500);
  const perIdleConnKb = (rssKb(pid) - idleKb) / IDLE;
  await closeAll(idle);
  const afterIdleKb = await settledRss(pid);
  const slow = await connectMany(sourcePort, SLOW, false);
  for (const s of slow) s.on('data', () => s.pause());
  const reader = setInterval(() => {
    for (const s of slow) s.resume();
  }, SLOW_READ_INTERVAL_MS);
  await sleep(SLOW_PHASE_MS);
  const slowKb = rssKb(pid);
  clearInterval(reader);
  await closeAll(slow);
  const afterSlowKb = await settledRss(pid);
  await stop(proc);
  return { idleKb, acceptPerS, perIdleConnKb, afterIdleKb, perSlowReaderKb: (slowKb - afterIdleKb) / SLOW, slowKb, afterSlowKb };
}

async function main(): Promise<void> {
  const dir = tempDir();
  const [backIdle, backSource] = [await freePort(), await freePort()];
  const backends = start(process.execPath, ['-e', BACKENDS_JS, String(backIdle), String(backSource)]);
  await waitForPort(backIdle);
  await waitForPort(backSource);
  const targets: { name: string; cmd: string; args: string[]; idlePort: number; sourcePort: number }[] = [];
  const add = async (name: string, cmd: string, args: (cfg: string) => string[]): Promise<void> => {
    const [idlePort, sourcePort] = [await freePort(), await freePort()];
    const cfg = join(dir, `${name}.cfg`);
    writeFileSync(
      cfg,
      'global\n    maxconn 4500\n\ndefaults\n    mode tcp\n    maxconn 4000\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n' +
        `\nlisten idle\n    bind 127.0.0.1:${idlePort}\n    server s1 127.0.0.1:${backIdle}\n` +
        `\nlisten source\n    bind 127.0.0.1:${sourcePort}\n    server s1 127.0.0.1:${backSource}\n`,
    );
    targets.push({ name, cmd, args: args(cfg), idlePort, sourcePort });
  };
  if (before) await add('before', join(before, 'packages/proxy/bin/proxy'), (cfg) => ['-q', '-f', cfg]);
  await add('warren', join(ROOT, 'packages/proxy/bin/proxy'), (cfg) => ['-q', '-f', cfg]);
  await add('haproxy', HAPROXY, (cfg) => ['-db', '-q', '-f', cfg]);

  const samples: Record<string, Sample[]> = {};
  for (let r = 0; r < reps; r++) {
    for (const t of targets) {
      const s = await runOnce(t.cmd, t.args, t.idlePort, t.sourcePort);
      (samples[t.name] ??= []).push(s);
      process.stderr.write(
        `rep ${r + 1}/${reps} ${t.name.padEnd(7)} idle ${(s.idleKb / 1024).toFixed(1)} MB  accept ${s.acceptPerS.toFixed(0)}/s  ` +
          `per idle conn ${s.perIdleConnKb.toFixed(1)} kB  after ${(s.afterIdleKb / 1024).toFixed(1)} MB  per slow reader ${s.perSlowReaderKb.toFixed(1)} kB  ` +
          `with slow readers ${(s.slowKb / 1024).toFixed(1)} MB  after ${(s.afterSlowKb / 1024).toFixed(1)} MB\n`,
      );
    }
  }
  await stop(backends);
  const keys: (keyof Sample)[] = ['idleKb', 'acceptPerS', 'perIdleConnKb', 'afterIdleKb', 'perSlowReaderKb', 'slowKb', 'afterSlowKb'];
  const summary = Object.fromEntries(Object.entries(samples).map(([name, xs]) => [name, Object.fromEntries(keys.map((k) => [k, median(xs.map((x) => x[k]))]))]));
  const ratio = (k: keyof Sample): number => (summary.warren?.[k] ?? NaN) / (summary.haproxy?.[k] ?? NaN);
  const result = {
    when: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '', node: process.version },
    params: { reps, idle: IDLE, slow: SLOW, slowReadIntervalMs: SLOW_READ_INTERVAL_MS, slowPhaseMs: SLOW_PHASE_MS },
    before: before ? beforeName : null,
    summary,
    samples,
  };
  writeFileSync(join(ROOT, 'bench/results/proxy-memory.json'), JSON.stringify(result, null, 2) + '\n');
  const mb = (kb: number | undefined): string => ((kb ?? NaN) / 1024).toFixed(1);
  const row = (name: string): string => {
    const s = summary[name] ?? {};
    return (
      `| ${name === 'before' ? `before (${beforeName})` : name} | ${mb(s.idleKb)} | ${(s.acceptPerS ?? NaN).toFixed(0)} | ${(s.perIdleConnKb ?? NaN).toFixed(1)} | ${mb(s.afterIdleKb)} | ` +
      `${(s.perSlowReaderKb ?? NaN).toFixed(1)} | ${mb(s.slowKb)} | ${mb(s.afterSlowKb)} |`
    );
  };
  const md = [
    `# Proxy memory (${result.when})`,
    '',
    `Machine: ${result.machine.cpus} × ${result.machine.model}, Node ${result.machine.node}. Medians of ${reps} repetitions, targets interleaved, each started fresh.`,
    `${IDLE} idle connections; ${SLOW} slow readers (one read every ${SLOW_READ_INTERVAL_MS} ms from a backend sending as fast as it can, RSS after ${SLOW_PHASE_MS / 1000} s).`,
    '',
    '| target | idle RSS MB | accept conn/s | RSS per idle conn kB | RSS after they left MB | RSS per slow reader kB | RSS with slow readers MB | RSS after they left MB |',
    '|---|---|---|---|---|---|---|---|',
    ...Object.keys(summary).map(row),
    '',
    `Warren / haproxy: idle RSS ${ratio('idleKb').toFixed(2)}, accept rate ${ratio('acceptPerS').toFixed(2)}, per idle connection ${ratio('perIdleConnKb').toFixed(2)}, ` +
      `per slow reader ${ratio('perSlowReaderKb').toFixed(2)}; after the slow readers left Warren is at ${((summary.warren?.afterSlowKb ?? NaN) / (summary.warren?.idleKb ?? NaN)).toFixed(2)}× its idle RSS.`,
    '',
  ].join('\n');
  writeFileSync(join(ROOT, 'bench/results/proxy-memory.md'), md);
  process.stdout.write(md);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`bench failed: ${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
