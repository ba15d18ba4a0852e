// The two brokers a differential run compares: Warren embedded in this process (with its management API), and a real
// RabbitMQ 3.10 (Debian's rabbitmq-server with the management plugin) started on private ports and a data directory
// under /tmp, reused across sequences (each sequence gets a fresh vhost on both).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker } from '../../packages/broker/src/index.ts';
import { startManagement } from '../../packages/broker/src/mgmt/index.ts';
import { mgmt, type Target } from './runner.ts';

export interface RunningTarget extends Target {
  stop(): Promise<void>;
}

/**
 * The management plugin's metrics collector is off: the tester reads only the objects' definitions (names, flags,
 * arguments) from the management API, never their statistics, and collecting them cost RabbitMQ a third of its CPU
 * per sequence. $WARREN_DIFF_RABBITMQ_STATS=1 leaves it on.
 */
const RABBITMQ_EXTRA = process.env['WARREN_DIFF_RABBITMQ_STATS'] === '1' ? [] : ['management_agent.disable_metrics_collector = true'];

const RABBITMQ_SERVER = ['/usr/lib/rabbitmq/bin/rabbitmq-server', '/usr/sbin/rabbitmq-server'];

/** The rabbitmq-server script, or null when RabbitMQ is not installed. */
export function findRabbitmq(): string | null {
  for (const p of RABBITMQ_SERVER) if (existsSync(p)) return p;
  return null;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Four consecutive free ports from `from` (AMQP, management, distribution, epmd). */
async function freeBlock(from: number, to: number): Promise<number> {
  for (let base = from; base + 4 <= to; base += 4) {
    let ok = true;
    for (let i = 0; i < 4 && ok; i++) ok = await portFree(base + i);
    if (ok) return base;
  }
  throw new Error(`no four free ports between ${from} and ${to}`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startWarren(): Promise<RunningTarget> {
  const b = await startBroker({ port: 0, log: () => {} });
  const m = await startManagement(b.broker, { port: 0 });
  return {
    name: 'Warren',
    amqpUrl: `amqp://guest:guest@127.0.0.1:${b.port}`,
    mgmtUrl: `http://127.0.0.1:${m.port}`,
    stop: async () => {
      await m.close();
      await b.close();
    },
  };
}

/**
 * Starts RabbitMQ with the management plugin. Ports come from `portRange` (default 27100-27999, below Linux's ephemeral range so that
 * no client connection takes one between the check and RabbitMQ's start; or
 * $WARREN_DIFF_PORTS "from-to"); the node is named warren-i18-diff-<port>@localhost.
 */
export async function startRabbitmq(portRange = process.env['WARREN_DIFF_PORTS'] ?? '27100-27999'): Promise<RunningTarget> {
  // an already running node (AMQP port and management port), e.g. one kept up between soak chunks
  const given = process.env['WARREN_DIFF_RABBIT'];
  if (given !== undefined && given !== '') {
    const [amqp, http] = given.split(':').map(Number) as [number, number];
    return { name: 'RabbitMQ', amqpUrl: `amqp://guest:guest@127.0.0.1:${amqp}`, mgmtUrl: `http://127.0.0.1:${http}`, stop: async () => {} };
  }
  const bin = findRabbitmq();
  if (bin === null) throw new Error('rabbitmq-server is not installed');
  const [from, to] = portRange.split('-').map(Number) as [number, number];
  const base = await freeBlock(from, to);
  const [amqp, http, dist, epmdPort] = [base, base + 1, base + 2, base + 3];
  // in memory when /dev/shm is there: RabbitMQ still syncs before it confirms, but the sync costs nothing
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'warren-i18-diff-rabbitmq-'));
  mkdirSync(join(dir, 'mnesia'));
  mkdirSync(join(dir, 'log'));
  writeFileSync(join(dir, 'enabled_plugins'), '[rabbitmq_management].\n');
  writeFileSync(
    join(dir, 'rabbitmq.conf'),
    [`listeners.tcp.default = 127.0.0.1:${amqp}`, `management.tcp.port = ${http}`, 'management.tcp.ip = 127.0.0.1', 'log.console = false', 'log.file.level = info', ...RABBITMQ_EXTRA].join('\n') + '\n',
  );
  const node = `warren-i18-diff-${amqp}@localhost`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dir,
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_NODENAME: node,
    RABBITMQ_DIST_PORT: String(dist),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
  };
  // our own epmd in the foreground, so it stops with us
  const epmd = spawn('epmd', ['-port', String(epmdPort), '-address', '127.0.0.1'], { env, stdio: 'ignore', detached: true });
  // the node cannot start its distribution before epmd listens (a loaded machine takes a while)
  for (const t0 = Date.now(); !(await accepts(epmdPort)); ) {
    if (Date.now() - t0 > 30_000) throw new Error(`epmd did not listen on ${epmdPort} within 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const outFile = join(dir, 'stdout.log');
  const fd = openSync(outFile, 'a');
  const child = spawn(bin, [], { env, cwd: dir, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  const stopProc = async (p: ChildProcess, ms: number): Promise<void> => {
    if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    try {
      process.kill(-p.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    const t = setTimeout(() => {
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, ms);
    await gone;
    clearTimeout(t);
  };
  const target: RunningTarget = {
    name: 'RabbitMQ',
    amqpUrl: `amqp://guest:guest@127.0.0.1:${amqp}`,
    mgmtUrl: `http://127.0.0.1:${http}`,
    stop: async () => {
      await stopProc(child, 15_000);
      await stopProc(epmd, 2000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) {
      const out = readFileSync(outFile, 'utf8').slice(-2000);
      await target.stop();
      throw new Error(`rabbitmq-server exited (${child.exitCode}):\n${out}`);
    }
    try {
      const r = await mgmt(target, 'GET', '/api/overview');
      if (r.status === 200) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() - t0 > 180_000) {
      await target.stop();
      throw new Error('RabbitMQ did not answer its management API within 180 s');
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return target;
}
