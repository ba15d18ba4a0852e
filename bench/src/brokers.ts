/**
 * Starting and stopping the brokers under test, each as a separate process whose pid is handed to the load
 * generator for RSS/CPU: RabbitMQ (Debian's rabbitmq-server, run in the foreground from a temp dir with its own epmd),
 * Warren's broker binary, and the discard server used to measure the load generator's own ceiling.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { freePort, makeTempDir, removeTempDir, sleep, spawnTracked, stopProcess, tcpConnectOnce } from './procs.ts';
import { repoRoot } from './perf.ts';

export interface RunningBroker {
  name: string;
  uri: string;
  port: number;
  /** Root of the broker's process tree (RSS/CPU are summed over the tree). */
  pid: number;
  /** Time from spawn until an AMQP connection succeeded, in ms. */
  startMs: number;
  alive(): boolean;
  stop(): Promise<void>;
  /** Last lines of the broker's own output, for error messages. */
  logTail(): string;
}

/** Retries an AMQP handshake until it succeeds, the process dies or the deadline passes. */
export async function waitForAmqp(uri: string, port: number, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (await tcpConnectOnce(port, 300)) {
      const c = new AMQPClient(uri);
      try {
        await Promise.race([
          c.connect(),
          sleep(3000).then(() => {
            throw new Error('handshake timeout');
          }),
        ]);
        await Promise.race([c.close(), sleep(1000)]);
        return true;
      } catch {
        /* not ready yet */
      }
    }
    await sleep(100);
  }
  return false;
}

export function tail(file: string, n = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

// ------------------------------------------------------------------------------------------------- RabbitMQ

function findRabbitmqServer(): string | undefined {
  // As root, /usr/sbin/rabbitmq-server switches to the rabbitmq user; the script under /usr/lib runs as we are.
  for (const p of ['/usr/lib/rabbitmq/bin/rabbitmq-server', '/usr/sbin/rabbitmq-server', '/usr/bin/rabbitmq-server']) {
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Installs Debian's rabbitmq-server when it is missing (as root, or with passwordless sudo). */
export function ensureRabbitmqInstalled(log: (s: string) => void): string | undefined {
  const found = findRabbitmqServer();
  if (found) return found;
  const root = process.getuid?.() === 0;
  const pre = root ? [] : ['sudo', '-n'];
  log('rabbitmq-server is not installed: apt-get install -y rabbitmq-server');
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const run = (args: string[]): void => {
      const [cmd, ...rest] = [...pre, ...args];
      execFileSync(cmd!, rest, { stdio: 'ignore', env, timeout: 600_000 });
    };
    run(['apt-get', 'update', '-q']);
    run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', 'rabbitmq-server']);
    // The package's postinst may have started the system service; the bench runs its own node.
    try {
      run(['invoke-rc.d', 'rabbitmq-server', 'stop']);
    } catch {
      /* not started */
    }
  } catch (e) {
    log(`apt-get install rabbitmq-server failed: ${(e as Error).message}`);
  }
  return findRabbitmqServer();
}

export async function startRabbitmq(log: (s: string) => void): Promise<RunningBroker> {
  const bin = ensureRabbitmqInstalled(log);
  if (!bin) throw new Error('rabbitmq-server is not installed and could not be installed');
  const dir = makeTempDir('warren-bench-rabbitmq-');
  const [port, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
  mkdirSync(join(dir, 'mnesia'));
  mkdirSync(join(dir, 'log'));
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  writeFileSync(join(dir, 'rabbitmq.conf'), 'loopback_users.guest = true\nlog.console = false\n');
  const out = join(dir, 'stdout.log');
  const fd = openSync(out, 'a');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dir,
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODENAME: `warren-bench-${port}@localhost`,
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
  };
  // Our own epmd on a free port, in the foreground, so it is ours to stop (a daemonised one would outlive us).
  const epmd = spawnTracked('epmd', ['-port', String(epmdPort), '-address', '127.0.0.1'], { env, stdio: 'ignore' }, true);
  await sleep(200);
  const t0 = performance.now();
  const child = spawnTracked(bin, [], { env, cwd: dir, stdio: ['ignore', fd, fd] }, true);
  closeSync(fd);
  const uri = `amqp://guest:guest@127.0.0.1:${port}/`;
  const stop = async (): Promise<void> => {
    await stopProcess(child, 10_000);
    await stopProcess(epmd, 2000);
    removeTempDir(dir);
  };
  const ok = await waitForAmqp(uri, port, child, 90_000);
  if (!ok) {
    const why = tail(out) || tail(join(dir, 'log', `warren-bench-${port}@localhost.log`));
    await stop();
    throw new Error(`RabbitMQ did not accept AMQP connections within 90 s:\n${why}`);
  }
  return {
    name: 'RabbitMQ',
    uri,
    port,
    pid: child.pid!,
    startMs: performance.now() - t0,
    alive: () => child.exitCode === null && child.signalCode === null,
    stop,
    logTail: () => tail(out),
  };
}

export function rabbitmqVersion(): string {
  try {
    const out = execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'rabbitmq-server'], { encoding: 'utf8' });
    return out.trim();
  } catch {
    return 'unknown';
  }
}

// ------------------------------------------------------------------------------------------------- Warren

export const warrenBin = join(repoRoot, 'packages', 'broker', 'src', 'bin', 'broker.ts');

export async function startWarren(opts: { cpuProfDir?: string; nodeArgs?: string[] } = {}): Promise<RunningBroker> {
  if (!existsSync(warrenBin)) throw new Error(`Warren's broker binary is not there yet (${warrenBin})`);
  const dir = makeTempDir('warren-bench-broker-');
  const port = await freePort();
  // The binary also opens a distribution port (default: AMQP port + 20000, which can be past 65535 for an ephemeral
  // port): give it a free one, its own node name and cookie file, on loopback.
  const distPort = await freePort();
  const out = join(dir, 'stdout.log');
  const fd = openSync(out, 'a');
  // as the broker binary runs it (bin/broker: why)
  const nodeArgs = ['--no-memory-reducer', ...(opts.nodeArgs ?? [])];
  if (opts.cpuProfDir) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`);
  const t0 = performance.now();
  const child = spawnTracked(
    process.execPath,
    [
      ...nodeArgs,
      '--conditions=warren-source',
      '--import',
      'tsx',
      warrenBin,
      '--port',
      String(port),
      '--data-dir',
      join(dir, 'data'),
      '--host',
      '127.0.0.1',
      '--dist-port',
      String(distPort),
      '--node-name',
      `warren-bench-${port}@localhost`,
      '--cookie-file',
      join(dir, 'cookie'),
    ],
    { cwd: repoRoot, stdio: ['ignore', fd, fd], env: { ...process.env } },
    true,
  );
  closeSync(fd);
  const uri = `amqp://guest:guest@127.0.0.1:${port}/`;
  const stop = async (): Promise<void> => {
    await stopProcess(child, 5000);
    removeTempDir(dir);
  };
  const ok = await waitForAmqp(uri, port, child, 30_000);
  if (!ok) {
    const why = tail(out);
    const exited = child.exitCode !== null || child.signalCode !== null;
    const how = exited ? `exited (${child.exitCode ?? child.signalCode}) before accepting AMQP connections` : 'did not accept AMQP connections within 30 s';
    await stop();
    throw new Error(`Warren's broker ${how}${why ? `: ${why.split('\n').slice(-3).join(' | ')}` : ' (no output)'}`);
  }
  return {
    name: 'Warren',
    uri,
    port,
    pid: child.pid!,
    startMs: performance.now() - t0,
    alive: () => child.exitCode === null && child.signalCode === null,
    stop,
    logTail: () => tail(out),
  };
}

// ------------------------------------------------------------------------------------------------- discard

export async function startDiscard(): Promise<RunningBroker> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawnTracked(
    process.execPath,
    ['--conditions=warren-source', '--import', 'tsx', join(repoRoot, 'bench', 'src', 'discard.ts'), '--port', String(port)],
    { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const uri = `amqp://guest:guest@127.0.0.1:${port}/`;
  const ok = await waitForAmqp(uri, port, child, 20_000);
  if (!ok) {
    await stopProcess(child, 1000);
    throw new Error('the discard server did not start');
  }
  return {
    name: 'discard',
    uri,
    port,
    pid: child.pid!,
    startMs: performance.now() - t0,
    alive: () => child.exitCode === null,
    stop: () => stopProcess(child, 1000),
    logTail: () => '',
  };
}
