/**
 * Broker binary start-up: from spawn() to the first AMQP handshake answered (the server's connection.start frame in
 * reply to the protocol header), for
 *   - the compiled binary, as a package installs it (node --no-memory-reducer packages/broker/dist/bin/broker.js),
 *   - the development wrapper (packages/broker/bin/broker: sh, then node compiling the TypeScript sources with tsx),
 *   - RabbitMQ 3.10 (Debian's rabbitmq-server with its own epmd, started as bench/src/brokers.ts does).
 * Warren's two are run in turn, pair by pair (alternating which goes first), in memory with a fresh port each time;
 * the probe connects every 5 ms. RabbitMQ takes seconds, so it gets fewer repetitions; its figure comes from the
 * bench's usual start (a full client handshake, polled every 100 ms), which is the same measurement at that scale.
 *
 *   npm run build && node --conditions=warren-source --import tsx bench/src/startup.ts [--reps 9] [--rabbitmq-reps 3]
 *                                                                                    [--no-rabbitmq]
 * Writes bench/results/startup.json and .md.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startRabbitmq } from './brokers.ts';
import { freePort, makeTempDir, removeTempDir, sleep, spawnTracked, stopProcess } from './procs.ts';
import { headCommit, repoRoot } from './perf.ts';
import { sampleTree } from './procstat.ts';

const PROBE_INTERVAL_MS = 5;
const START_TIMEOUT_MS = 60_000; // a loaded 2-core machine can take seconds to start a tsx process
const AMQP_HEADER = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');

const COMPILED = join(repoRoot, 'packages/broker/dist/bin/broker.js');
const WRAPPER = join(repoRoot, 'packages/broker/bin/broker');

/** One attempt: connect, send the header, resolve true on a connection.start method frame (class 10, method 10). */
function handshakeOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    let got = Buffer.alloc(0);
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(2000, () => done(false));
    s.once('error', () => done(false));
    s.once('close', () => done(false));
    s.once('connect', () => s.write(AMQP_HEADER));
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 11) done(got[0] === 1 && got.readUInt16BE(1) === 0 && got.readUInt32BE(7) === 0x000a000a);
    });
  });
}

interface Start {
  /** spawn() to the handshake, wall-clock ms */
  ms: number;
  /** CPU time (user + system) the process tree had used at that moment, ms: what a loaded machine does not inflate */
  cpuMs: number;
}

async function timeToHandshake(cmd: string, args: string[], dir: string): Promise<Start> {
  const port = await freePort();
  const distPort = await freePort();
  const brokerArgs = ['--memory', '--quiet', '--host', '127.0.0.1', '--port', String(port), '--dist-port', String(distPort), '--node-name', `startup-${port}@localhost`, '--cookie-file', join(dir, 'cookie')];
  const env: NodeJS.ProcessEnv = { ...process.env, WARREN_NODE_REGISTRY: join(dir, 'registry') };
  delete env['NODE_OPTIONS'];
  const t0 = performance.now();
  const child = spawnTracked(cmd, [...args, ...brokerArgs], { env, stdio: 'ignore' }, true);
  try {
    while (performance.now() - t0 < START_TIMEOUT_MS) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${cmd} exited (${child.exitCode ?? child.signalCode})`);
      if (await handshakeOnce(port)) {
        const ms = performance.now() - t0;
        return { ms, cpuMs: (sampleTree(child.pid!)?.cpuSec ?? NaN) * 1000 };
      }
      await sleep(PROBE_INTERVAL_MS);
    }
    throw new Error(`${cmd}: no AMQP handshake within ${START_TIMEOUT_MS} ms`);
  } finally {
    await stopProcess(child, 5000);
  }
}

interface Stat {
  median: number;
  min: number;
  max: number;
  runs: number[];
}
function stat(xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, runs: xs };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '9' }, 'rabbitmq-reps': { type: 'string', default: '3' }, 'no-rabbitmq': { type: 'boolean' } } });
  const reps = Number(values.reps);
  if (!existsSync(COMPILED)) throw new Error(`${COMPILED} is missing: run npm run build first`);
  const dir = makeTempDir('warren-bench-startup-');
  const compiled: Start[] = [];
  const tsx: Start[] = [];
  const ratios: number[] = [];
  const runCompiled = (): Promise<Start> => timeToHandshake(process.execPath, ['--no-memory-reducer', COMPILED], dir);
  const runTsx = (): Promise<Start> => timeToHandshake(WRAPPER, [], dir);
  await runCompiled(); // warm-up: page cache, the cookie file
  await runTsx();
  for (let i = 0; i < reps; i++) {
    let c: Start;
    let t: Start;
    if (i % 2 === 0) {
      c = await runCompiled();
      t = await runTsx();
    } else {
      t = await runTsx();
      c = await runCompiled();
    }
    compiled.push(c);
    tsx.push(t);
    ratios.push(t.ms / c.ms);
    console.log(`rep ${i + 1}/${reps}: compiled ${c.ms.toFixed(0)} ms (CPU ${c.cpuMs.toFixed(0)} ms), tsx ${t.ms.toFixed(0)} ms (CPU ${t.cpuMs.toFixed(0)} ms), ${(t.ms / c.ms).toFixed(2)}x`);
  }
  removeTempDir(dir);
  const rabbit: number[] = [];
  const rabbitCpu: number[] = [];
  if (values['no-rabbitmq'] !== true) {
    for (let i = 0; i < Number(values['rabbitmq-reps']); i++) {
      const r = await startRabbitmq((s) => console.log(s));
      rabbit.push(r.startMs);
      rabbitCpu.push((sampleTree(r.pid)?.cpuSec ?? NaN) * 1000);
      console.log(`RabbitMQ ${i + 1}: ${r.startMs.toFixed(0)} ms (CPU ${rabbitCpu[i]!.toFixed(0)} ms)`);
      await r.stop();
      await sleep(500);
    }
  }
  const result = {
    commit: headCommit(),
    date: new Date().toISOString(),
    node: process.version,
    loadAverage: loadavg(),
    compiledMs: stat(compiled.map((x) => x.ms)),
    compiledCpuMs: stat(compiled.map((x) => x.cpuMs)),
    tsxMs: stat(tsx.map((x) => x.ms)),
    tsxCpuMs: stat(tsx.map((x) => x.cpuMs)),
    tsxOverCompiled: stat(ratios),
    ...(rabbit.length ? { rabbitmqMs: stat(rabbit), rabbitmqCpuMs: stat(rabbitCpu) } : {}),
  };
  const f = (s: Stat): string => `${s.median.toFixed(0)} ms (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;
  const md = [
    `# Broker binary start-up: spawn to first AMQP handshake`,
    '',
    `${result.date}, commit ${result.commit}, Node ${result.node}, load average ${result.loadAverage.map((l) => l.toFixed(1)).join(' ')}; ${reps} pairs, medians (min–max).`,
    '',
    '| binary | spawn to handshake (wall) | CPU used by then |',
    '|---|---|---|',
    `| compiled (\`dist/bin/broker.js\`, what the package installs) | ${f(result.compiledMs)} | ${f(result.compiledCpuMs)} |`,
    `| development wrapper (\`packages/broker/bin/broker\`, tsx) | ${f(result.tsxMs)}; ${result.tsxOverCompiled.median.toFixed(2)}x the compiled, pair by pair | ${f(result.tsxCpuMs)} |`,
    ...(result.rabbitmqMs && result.rabbitmqCpuMs
      ? [`| RabbitMQ 3.10 (${rabbit.length} starts) | ${f(result.rabbitmqMs)}; ${(result.rabbitmqMs.median / result.compiledMs.median).toFixed(1)}x the compiled | ${f(result.rabbitmqCpuMs)} |`]
      : []),
    '',
  ].join('\n');
  const out = join(repoRoot, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'startup.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(out, 'startup.md'), md);
  console.log(`\n${md}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
