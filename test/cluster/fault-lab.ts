// Three real `broker` processes in their own network namespaces on one bridge, with the faults the fault test
// injects: kill -9 and restart, SIGSTOP/SIGCONT, a node's bridge port down (cut from everyone), and nftables drops
// between groups of nodes (cut from each other, clients still reach them all).
//
// Clients run in the test process, in the host namespace: one veth from the host into the bridge's namespace gives
// the host an address on the lab subnet. Deleting the bridge's namespace deletes that veth too, so teardown (and a
// crash of the test process followed by `ip netns del`) leaves nothing behind in the host namespace.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, sh, sleep, waitFor } from '../vrrp/lab.ts';
import { BROKER_BIN, BROKERCTL_BIN, REPO } from '../helpers/broker-process.ts';
import { NODES, type NodeName } from './fault-schedule.ts';

/** The host's address on the lab subnet (nodes are .1 .. .3). */
const HOST_OCTET = 250;
/** brokerctl's own timeout: a hung (SIGSTOPped) node must not hold the run for long. */
const CTL_TIMEOUT_S = 8;
/** The name nftables rules live under in a node namespace; deleting the table heals the split. */
const NFT_TABLE = 'warren_fault';

export interface CtlResult {
  code: number;
  out: string;
  err: string;
}

interface NodeState {
  proc: ChildProcess | null;
  stopped: boolean;
  portDown: boolean;
  /** peers this node drops traffic to and from (nftables) */
  dropping: NodeName[];
}

export class FaultLab {
  readonly lab: Lab;
  readonly dir: string;
  readonly hostIp: string;
  private readonly hostIf: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly conf: string;
  private readonly state = new Map<NodeName, NodeState>();
  private readonly t0 = Date.now();
  private isUp = false;

  constructor(tag: string, readonly subnet: number, partitionHandling: string) {
    this.lab = new Lab(tag, subnet);
    this.dir = mkdtempSync(join(tmpdir(), `warren-fault-${tag}-`));
    mkdirSync(join(this.dir, 'logs'));
    this.hostIp = this.lab.ip(HOST_OCTET);
    this.hostIf = `wfh${process.pid}`.slice(0, 15);
    this.env = { ...process.env, WARREN_COOKIE_FILE: join(this.dir, 'cookie'), WARREN_NODE_REGISTRY: join(this.dir, 'registry') };
    this.conf = join(this.dir, 'rabbitmq.conf');
    writeFileSync(this.conf, `cluster_partition_handling = ${partitionHandling}\nloopback_users = none\nheartbeat = 5\n`);
    for (const n of NODES) this.state.set(n, { proc: null, stopped: false, portDown: false, dropping: [] });
  }

  nodeName(n: NodeName): string {
    return `rabbit@${this.ip(n)}`;
  }

  ip(n: NodeName): string {
    return this.lab.ip(NODES.indexOf(n) + 1);
  }

  url(n: NodeName): string {
    return `amqp://guest:guest@${this.ip(n)}:5672?heartbeat=2`;
  }

  /** Node state as text, for the timeline. */
  describe(): string {
    return NODES.map((n) => {
      const s = this.state.get(n)!;
      const flags = [s.proc === null ? 'down' : 'up', s.stopped ? 'STOPPED' : '', s.portDown ? 'port-down' : '', s.dropping.length ? `drops ${s.dropping.join(',')}` : ''];
      return `${n}:${flags.filter(Boolean).join('/')}`;
    }).join(' ');
  }

  /** A line in every node's log file, so broker log lines can be matched to the fault timeline. */
  mark(text: string): void {
    const line = `\n===== [fault-test +${((Date.now() - this.t0) / 1000).toFixed(1)}s] ${text} =====\n`;
    for (const n of NODES) appendFileSync(join(this.dir, 'logs', `${n}.log`), line);
  }

  async up(): Promise<void> {
    this.isUp = true;
    this.lab.up();
    NODES.forEach((n, i) => this.lab.addNode(n, i + 1));
    const route = spawnSync('ip', ['-4', 'route', 'show', `${this.lab.ip(0)}/24`], { encoding: 'utf8' }).stdout.trim();
    if (route !== '') throw new Error(`the host already has a route to ${this.lab.ip(0)}/24 (${route}); pick another subnet`);
    sh('ip', ['link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', 'phost', 'netns', this.lab.sw]);
    sh('ip', ['-n', this.lab.sw, 'link', 'set', 'phost', 'master', 'br0', 'up']);
    sh('ip', ['addr', 'add', `${this.hostIp}/24`, 'dev', this.hostIf]);
    sh('ip', ['link', 'set', this.hostIf, 'up']);
    for (const n of NODES) this.start(n);
    for (const n of NODES) await this.awaitStartup(n, 30_000);
    // the seeds' procedure: n1 is the disc node, the others join it as ram nodes
    for (const n of NODES.slice(1) as NodeName[]) {
      for (const args of [['stop_app'], ['join_cluster', '--ram', this.nodeName('n1')], ['start_app']]) {
        const r = await this.ctl(n, ...args);
        if (r.code !== 0) throw new Error(`${n}: brokerctl ${args.join(' ')} failed (${r.code}): ${r.err}${r.out}`);
      }
    }
  }

  start(n: NodeName): void {
    const s = this.state.get(n)!;
    if (s.proc !== null) return;
    const log = join(this.dir, 'logs', `${n}.log`);
    const args = ['netns', 'exec', this.lab.ns(n), BROKER_BIN, '--config', this.conf, '--data-dir', join(this.dir, n), '--node-name', this.nodeName(n), '--host', '0.0.0.0'];
    const child = spawn('ip', args, { env: this.env, cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    const write = (d: Buffer): void => appendFileSync(log, d);
    child.stdout!.on('data', write);
    child.stderr!.on('data', write);
    child.once('exit', (code, sig) => {
      appendFileSync(log, `\n===== [fault-test] process exited (${code ?? sig}) =====\n`);
      if (s.proc === child) {
        s.proc = null;
        s.stopped = false;
      }
    });
    s.proc = child;
  }

  isRunning(n: NodeName): boolean {
    return this.state.get(n)!.proc !== null;
  }

  /** kill -9 (`ip netns exec` execs the wrapper, which execs node: the child's pid is the broker's). */
  async kill(n: NodeName, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.state.get(n)!.proc;
    if (p === null) return;
    const exited = new Promise<void>((res) => p.once('exit', () => res()));
    p.kill(signal);
    await Promise.race([exited, sleep(signal === 'SIGKILL' ? 5000 : 20_000)]);
    if (this.state.get(n)!.proc === p) {
      p.kill('SIGKILL');
      await exited;
    }
  }

  signal(n: NodeName, sig: 'SIGSTOP' | 'SIGCONT'): void {
    const s = this.state.get(n)!;
    if (s.proc === null) return;
    s.proc.kill(sig);
    s.stopped = sig === 'SIGSTOP';
  }

  setPort(n: NodeName, up: boolean): void {
    this.lab.setPort(n, up);
    this.state.get(n)!.portDown = !up;
  }

  /** Drop all traffic between the nodes of `group` and the others (both directions, on both sides). */
  split(group: NodeName[]): void {
    const others = NODES.filter((n) => !group.includes(n));
    for (const [side, peers] of [...group.map((g) => [g, others] as const), ...others.map((o) => [o, group] as const)]) {
      const set = peers.map((p) => this.ip(p)).join(', ');
      const rules = `table inet ${NFT_TABLE} {
  chain in { type filter hook input priority 0; policy accept; ip saddr { ${set} } drop; }
  chain out { type filter hook output priority 0; policy accept; ip daddr { ${set} } drop; }
}\n`;
      this.unsplitNode(side);
      const r = spawnSync('ip', ['netns', 'exec', this.lab.ns(side), 'nft', '-f', '-'], { input: rules, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`nft in ${side}: ${r.stderr}`);
      this.state.get(side)!.dropping = [...peers];
    }
  }

  private unsplitNode(n: NodeName): void {
    spawnSync('ip', ['netns', 'exec', this.lab.ns(n), 'nft', 'delete', 'table', 'inet', NFT_TABLE], { encoding: 'utf8' });
    this.state.get(n)!.dropping = [];
  }

  /** Undo every network fault and wake every stopped node; start the dead ones. */
  healAll(): void {
    for (const n of NODES) {
      const s = this.state.get(n)!;
      if (s.dropping.length) this.unsplitNode(n);
      if (s.portDown) this.setPort(n, true);
      if (s.stopped) this.signal(n, 'SIGCONT');
      if (s.proc === null) this.start(n);
    }
  }

  ctl(n: NodeName, ...args: string[]): Promise<CtlResult> {
    return new Promise((res) => {
      const child = spawn('ip', ['netns', 'exec', this.lab.ns(n), BROKERCTL_BIN, '-n', this.nodeName(n), '-t', String(CTL_TIMEOUT_S), ...args], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const t = setTimeout(() => child.kill('SIGKILL'), (CTL_TIMEOUT_S + 10) * 1000);
      child.once('exit', (code) => {
        clearTimeout(t);
        res({ code: code ?? -1, out, err });
      });
    });
  }

  async awaitStartup(n: NodeName, timeoutMs: number): Promise<boolean> {
    return (await waitFor(async () => this.isRunning(n) && (await this.ctl(n, 'await_startup')).code === 0, timeoutMs, 300)) !== undefined;
  }

  /** The queue's master as `n1`..`n3`, asked of the first node that answers; undefined when none knows. */
  async masterOf(queue: string, ask: readonly NodeName[] = NODES): Promise<NodeName | undefined> {
    for (const n of ask) {
      const s = this.state.get(n)!;
      if (s.proc === null || s.stopped) continue;
      const r = await this.ctl(n, '-q', 'list_queues', 'name', 'node');
      const name = new RegExp(`^${queue.replace(/\./g, '\\.')}\\t(\\S+)$`, 'm').exec(r.out)?.[1];
      const m = NODES.find((x) => this.nodeName(x) === name);
      if (m !== undefined) return m;
    }
    return undefined;
  }

  /** Running nodes as the disc node sees them (its cluster_status), by short name. */
  async runningNodes(from: NodeName = 'n1'): Promise<NodeName[]> {
    const r = await this.ctl(from, 'cluster_status', '--formatter', 'json');
    if (r.code !== 0) return [];
    try {
      const names = (JSON.parse(r.out) as { running_nodes?: string[] }).running_nodes ?? [];
      return NODES.filter((n) => names.includes(this.nodeName(n)));
    } catch {
      return [];
    }
  }

  /** Kills every broker, deletes the namespaces (and with them the host's veth); keeps `dir` when asked. */
  async down(keepDir = false): Promise<void> {
    if (!this.isUp) return;
    this.isUp = false;
    for (const n of NODES) {
      const s = this.state.get(n)!;
      if (s.stopped) this.signal(n, 'SIGCONT');
      await this.kill(n);
    }
    spawnSync('ip', ['link', 'del', this.hostIf]);
    await this.lab.down();
    if (!keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
