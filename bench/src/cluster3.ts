/**
 * Three-node clusters on one host for the mirrored-queue bench, built the way the seeds build them: node 1 is a
 * disc node, nodes 2 and 3 join it as ram nodes (`stop_app; join_cluster --ram <node1>; start_app`), and the policy
 * `ha-all "^ha\."` `{"ha-mode":"all","ha-sync-mode":"automatic"}` mirrors the bench's queues on all three.
 *
 * - Warren: three `packages/broker/bin/broker` processes with a private cookie file and node registry
 *   (WARREN_COOKIE_FILE, WARREN_NODE_REGISTRY), joined with `brokerctl`.
 * - RabbitMQ: three `rabbitmq-server` processes (Debian's 3.10) named rabbitN@localhost, each with its own AMQP /
 *   distribution port and mnesia dir, one shared Erlang cookie ($HOME/.erlang.cookie in a temp HOME) and one
 *   private epmd (ERL_EPMD_PORT), joined with `rabbitmqctl`.
 *
 * Every process is started through procs.ts (killed on exit, error or Ctrl-C), every temp dir removed.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureRabbitmqInstalled, tail, waitForAmqp, warrenBin } from './brokers.ts';
import { repoRoot } from './perf.ts';
import { freePort, makeTempDir, removeTempDir, sleep, spawnTracked, stopProcess } from './procs.ts';
import { processTree } from './procstat.ts';

export const HA_POLICY_PATTERN = '^ha\\.';
export const HA_POLICY = '{"ha-mode":"all","ha-sync-mode":"automatic"}';
/** A Warren node boots in under a second; a RabbitMQ node in 3-10 s, more when it rejoins a cluster on a busy host. */
const WARREN_BOOT_TIMEOUT_MS = 30_000;
const RABBITMQ_BOOT_TIMEOUT_MS = 120_000;
/** rabbitmqctl starts an Erlang VM per call (1-2 s of CPU); brokerctl a Node process. On a shared host at load 30+
 * (at nice 10) a call took over 60 s. */
const CTL_TIMEOUT_MS = 120_000;

export interface CtlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ClusterNode {
  /** Node name (rabbit@host form). */
  name: string;
  port: number;
  uri: string;
  /** The process a crash or a hang is simulated on: Warren's node process, RabbitMQ's beam.smp. */
  vmPid(): number | undefined;
  alive(): boolean;
}

export interface Cluster {
  kind: 'Warren' | 'RabbitMQ';
  nodes: ClusterNode[];
  ctl(i: number, args: string[], timeoutMs?: number): Promise<CtlResult>;
  /** Node name of the queue's master, or undefined (no such queue / no master now), asked through node i. */
  masterOf(queue: string, via: number): Promise<string | undefined>;
  /** Node names of the queue's synchronised mirrors, asked through node i. */
  syncedMirrors(queue: string, via: number): Promise<string[]>;
  /** Starts node i again after it was killed (it rejoins with its own data: disc or ram as before). */
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

function runCtl(bin: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CtlResult> {
  return new Promise((resolve) => {
    // Tracked, so a bench stopped in the middle of a call does not leave it behind. Both scripts exec down to one
    // process (node, or erl's beam.smp), so killing the child ends the call.
    let child: ChildProcess;
    try {
      child = spawnTracked(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      resolve({ code: -1, stdout: '', stderr: (e as Error).message });
      return;
    }
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(t);
      resolve({ code: -1, stdout, stderr: stderr + e.message });
    });
    child.once('exit', (code, sig) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr: sig ? `${stderr}killed by ${sig} (timeout ${timeoutMs} ms)` : stderr });
    });
  });
}

function mustOk(what: string, r: CtlResult): void {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${(r.stderr || r.stdout).trim().slice(0, 500)}`);
}

/** Waits until `check` is true, polling every `everyMs`, for at most `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (performance.now() > until) return false;
    await sleep(everyMs);
  }
}

// ------------------------------------------------------------------------------------------------- Warren

const BROKER_BIN = join(repoRoot, 'packages', 'broker', 'bin', 'broker');
const BROKERCTL_BIN = join(repoRoot, 'packages', 'broker', 'bin', 'brokerctl');

/** `tag` goes into node names and temp dir names (several benches of different people on one host tell theirs apart). */
export async function startWarrenCluster(log: (s: string) => void, cpuProfDir?: string, tag = ''): Promise<Cluster> {
  const dir = makeTempDir(`warren-bench-cluster-${tag ? `${tag}-` : ''}`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WARREN_COOKIE_FILE: join(dir, 'cookie'),
    WARREN_NODE_REGISTRY: join(dir, 'registry'),
  };
  // under the profiler, node runs the broker's source itself (the bin script cannot pass --cpu-prof on)
  const [bin, pre] = cpuProfDir === undefined ? [BROKER_BIN, []] : [process.execPath, ['--no-memory-reducer', '--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`, '--conditions=warren-source', '--import', 'tsx', warrenBin]];
  interface WNode extends ClusterNode {
    args: string[];
    child?: ChildProcess;
    out: string;
  }
  const nodes: WNode[] = [];
  for (let i = 1; i <= 3; i++) {
    const port = await freePort();
    const dist = await freePort();
    const name = `rabbit@wbench${tag}${i}`;
    const args = ['--port', String(port), '--host', '127.0.0.1', '--data-dir', join(dir, `n${i}`), '--node-name', name, '--dist-port', String(dist), '--quiet'];
    const n: WNode = {
      name,
      port,
      uri: `amqp://guest:guest@127.0.0.1:${port}/`,
      args,
      out: join(dir, `n${i}.log`),
      vmPid: () => n.child?.pid,
      alive: () => n.child !== undefined && n.child.exitCode === null && n.child.signalCode === null,
    };
    nodes.push(n);
  }
  const boot = async (n: WNode): Promise<void> => {
    if (n.child) await stopProcess(n.child, 1000);
    const fd = openSync(n.out, 'a');
    // The script execs node, so the child's pid is the broker's own process (what kill -9 / SIGSTOP hit).
    n.child = spawnTracked(bin, [...pre, ...n.args], { env, stdio: ['ignore', fd, fd] }, true);
    closeSync(fd);
    if (!(await waitForAmqp(n.uri, n.port, n.child, WARREN_BOOT_TIMEOUT_MS))) {
      throw new Error(`Warren node ${n.name} did not accept AMQP connections: ${tail(n.out, 5)}`);
    }
  };
  const ctl = (i: number, args: string[], timeoutMs = CTL_TIMEOUT_MS): Promise<CtlResult> =>
    runCtl(BROKERCTL_BIN, ['-n', nodes[i]!.name, ...args], env, timeoutMs);
  const stop = async (): Promise<void> => {
    for (const n of nodes) {
      if (!n.child) continue;
      try {
        process.kill(n.child.pid!, 'SIGCONT');
      } catch {
        /* gone */
      }
      await stopProcess(n.child, 3000);
    }
    removeTempDir(dir);
  };
  try {
    await Promise.all(nodes.map(boot));
    for (const i of [1, 2]) {
      mustOk(`brokerctl -n ${nodes[i]!.name} stop_app`, await ctl(i, ['stop_app']));
      mustOk(`brokerctl join_cluster --ram`, await ctl(i, ['join_cluster', '--ram', nodes[0]!.name]));
      mustOk(`brokerctl start_app`, await ctl(i, ['start_app']));
    }
    mustOk('brokerctl set_policy', await ctl(0, ['set_policy', 'ha-all', HA_POLICY_PATTERN, HA_POLICY]));
    log(`Warren cluster up: ${nodes.map((n) => `${n.name}:${n.port}`).join(', ')} (disc, ram, ram)`);
  } catch (e) {
    await stop();
    throw e;
  }
  const listQueues = async (via: number): Promise<string[][]> => {
    const r = await ctl(via, ['-q', 'list_queues', 'name', 'node', 'synchronised_slave_pids'], 15_000);
    return r.stdout.split('\n').map((l) => l.split('\t'));
  };
  return {
    kind: 'Warren',
    nodes,
    ctl,
    masterOf: async (queue, via) => (await listQueues(via)).find((r) => r[0] === queue)?.[1] || undefined,
    syncedMirrors: async (queue, via) => {
      const row = (await listQueues(via)).find((r) => r[0] === queue);
      return [...(row?.[2] ?? '').matchAll(/<([^>]+?)\.\d+\.\d+>/g)].map((m) => m[1]!);
    },
    restart: (i) => boot(nodes[i]!),
    stop,
  };
}

// ------------------------------------------------------------------------------------------------- RabbitMQ

const RABBITMQCTL = '/usr/lib/rabbitmq/bin/rabbitmqctl';

/** The beam.smp in a rabbitmq-server process tree (the script and erl exec or fork down to it). */
function beamPid(root: number): number | undefined {
  for (const pid of processTree(root)) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('beam')) return pid;
    } catch {
      /* gone */
    }
  }
  return undefined;
}

export async function startRabbitmqCluster(log: (s: string) => void, tag = ''): Promise<Cluster> {
  const bin = ensureRabbitmqInstalled(log);
  if (!bin) throw new Error('rabbitmq-server is not installed and could not be installed');
  const dir = makeTempDir(`warren-bench-rabbit-cluster-${tag ? `${tag}-` : ''}`);
  const [epmdPort, ctlDistMin] = [await freePort(), await freePort()];
  // One cookie for the three nodes and rabbitmqctl: Erlang reads $HOME/.erlang.cookie (mode 400).
  writeFileSync(join(dir, '.erlang.cookie'), `WARRENBENCH${Math.random().toString(36).slice(2).toUpperCase()}`);
  chmodSync(join(dir, '.erlang.cookie'), 0o400);
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  writeFileSync(join(dir, 'rabbitmq.conf'), 'loopback_users.guest = true\nlog.console = false\n');
  const common: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dir,
    LC_ALL: 'C.UTF-8',
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    // rabbitmqctl's own distribution port range (default 35672-35682, shared with anyone else on the host).
    RABBITMQ_CTL_DIST_PORT_MIN: String(ctlDistMin),
    RABBITMQ_CTL_DIST_PORT_MAX: String(ctlDistMin),
  };
  const epmd = spawnTracked('epmd', ['-port', String(epmdPort), '-address', '127.0.0.1'], { env: common, stdio: 'ignore' }, true);
  await sleep(200);
  interface RNode extends ClusterNode {
    env: NodeJS.ProcessEnv;
    child?: ChildProcess;
    out: string;
  }
  const nodes: RNode[] = [];
  for (let i = 1; i <= 3; i++) {
    const [port, distPort] = [await freePort(), await freePort()];
    const name = `rabbit${i}${tag ? `-${tag}` : ''}@localhost`;
    const nd = join(dir, `n${i}`);
    mkdirSync(join(nd, 'mnesia'), { recursive: true });
    mkdirSync(join(nd, 'log'), { recursive: true });
    const n: RNode = {
      name,
      port,
      uri: `amqp://guest:guest@127.0.0.1:${port}/`,
      out: join(nd, 'stdout.log'),
      env: {
        ...common,
        RABBITMQ_NODENAME: name,
        RABBITMQ_NODE_PORT: String(port),
        RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
        RABBITMQ_DIST_PORT: String(distPort),
        RABBITMQ_MNESIA_BASE: join(nd, 'mnesia'),
        RABBITMQ_LOG_BASE: join(nd, 'log'),
        RABBITMQ_PID_FILE: join(nd, 'rabbitmq.pid'),
      },
      vmPid: () => (n.child?.pid !== undefined && n.alive() ? beamPid(n.child.pid) : undefined),
      alive: () => n.child !== undefined && n.child.exitCode === null && n.child.signalCode === null,
    };
    nodes.push(n);
  }
  const boot = async (n: RNode): Promise<void> => {
    if (n.child) await stopProcess(n.child, 1000);
    const fd = openSync(n.out, 'a');
    n.child = spawnTracked(bin, [], { env: n.env, cwd: dir, stdio: ['ignore', fd, fd] }, true);
    closeSync(fd);
    if (!(await waitForAmqp(n.uri, n.port, n.child, RABBITMQ_BOOT_TIMEOUT_MS))) {
      throw new Error(`RabbitMQ node ${n.name} did not accept AMQP connections: ${tail(n.out, 5)}`);
    }
  };
  const ctl = (i: number, args: string[], timeoutMs = CTL_TIMEOUT_MS): Promise<CtlResult> =>
    runCtl(RABBITMQCTL, ['-n', nodes[i]!.name, ...args], common, timeoutMs);
  const stop = async (): Promise<void> => {
    for (const n of nodes) {
      if (!n.child) continue;
      const vm = n.vmPid();
      if (vm !== undefined) {
        try {
          process.kill(vm, 'SIGCONT');
        } catch {
          /* gone */
        }
      }
      await stopProcess(n.child, 10_000);
    }
    await stopProcess(epmd, 2000);
    removeTempDir(dir);
  };
  try {
    await Promise.all(nodes.map(boot));
    for (const i of [1, 2]) {
      mustOk(`rabbitmqctl -n ${nodes[i]!.name} stop_app`, await ctl(i, ['stop_app']));
      mustOk(`rabbitmqctl join_cluster --ram`, await ctl(i, ['join_cluster', '--ram', nodes[0]!.name]));
      mustOk(`rabbitmqctl start_app`, await ctl(i, ['start_app']));
    }
    mustOk('rabbitmqctl set_policy', await ctl(0, ['set_policy', 'ha-all', HA_POLICY_PATTERN, HA_POLICY]));
    log(`RabbitMQ cluster up: ${nodes.map((n) => `${n.name}:${n.port}`).join(', ')} (disc, ram, ram)`);
  } catch (e) {
    await stop();
    throw e;
  }
  // pid and synchronised_slave_pids print as <rabbit2@localhost.1668000000.1234.0>.
  const nodeOfPid = (s: string): string[] => [...s.matchAll(/<([^.>]+@[^.>]+)\.[\d.]+>/g)].map((m) => m[1]!);
  const listQueues = async (via: number): Promise<string[][]> => {
    const r = await ctl(via, ['-q', '--no-table-headers', 'list_queues', 'name', 'pid', 'synchronised_slave_pids'], 30_000);
    return r.stdout.split('\n').map((l) => l.split('\t'));
  };
  return {
    kind: 'RabbitMQ',
    nodes,
    ctl,
    masterOf: async (queue, via) => nodeOfPid((await listQueues(via)).find((r) => r[0] === queue)?.[1] ?? '')[0],
    syncedMirrors: async (queue, via) => nodeOfPid((await listQueues(via)).find((r) => r[0] === queue)?.[2] ?? ''),
    restart: (i) => boot(nodes[i]!),
    stop,
  };
}
