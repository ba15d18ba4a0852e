// Network-namespace lab for the vrrpd integration, interop and bench runs.
//
// Everything lives in namespaces this file creates (names carry the pid and a tag): a "switch" namespace holding
// a bridge, and one namespace per node with an `eth0` veth whose peer is a bridge port. Nothing is created in,
// or attached to, the host's own namespace. Addresses: 10.213.<subnet>.0/24.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REPO = new URL('../../', import.meta.url).pathname;
export const VRRPD = join(REPO, 'packages/vrrp/src/bin/vrrpd.ts');
/** The installed entry point (runs the esbuild bundle of src/, rebuilt when a source is newer; tsx otherwise). */
export const VRRPD_BIN = join(REPO, 'packages/vrrp/bin/vrrpd');

/** Why network tests cannot run here, or undefined when they can. */
export function labUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.status !== 0) return `ip netns unavailable: ${r.stderr || r.error?.message}`;
  for (const tool of ['ping', 'arping']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  return undefined;
}

export function keepalivedUnavailable(): string | undefined {
  const r = spawnSync('keepalived', ['--version'], { encoding: 'utf8' });
  return r.error !== undefined ? 'keepalived is not installed' : undefined;
}

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface Proc {
  name: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export class Lab {
  readonly tag: string;
  readonly sw: string;
  readonly dir: string;
  readonly nodes = new Map<string, { ns: string; ip: string }>();
  private readonly procs: Proc[] = [];

  constructor(tag: string, readonly subnet: number) {
    this.tag = `${tag}${process.pid}`;
    this.sw = `vsw${this.tag}`;
    this.dir = mkdtempSync(join(tmpdir(), `vrrp-lab-${this.tag}-`));
  }

  ip(host: number): string {
    return `10.213.${this.subnet}.${host}`;
  }

  /** Create the switch namespace and bridge. */
  up(): void {
    sh('ip', ['netns', 'add', this.sw]);
    sh('ip', ['-n', this.sw, 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0']);
    // Snooping would delay the first multicast adverts until a querier shows up.
    sh('ip', ['-n', this.sw, 'link', 'set', 'br0', 'type', 'bridge', 'mcast_snooping', '0']);
    sh('ip', ['-n', this.sw, 'link', 'set', 'br0', 'up']);
  }

  /** Add a node namespace `name` with eth0 = 10.213.subnet.host/24 on the bridge. */
  addNode(name: string, host: number): string {
    const ns = `v${name}${this.tag}`;
    const port = `p${name}`;
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['-n', this.sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    sh('ip', ['-n', this.sw, 'link', 'set', port, 'master', 'br0', 'up']);
    sh('ip', ['-n', ns, 'addr', 'add', `${this.ip(host)}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    this.nodes.set(name, { ns, ip: this.ip(host) });
    return ns;
  }

  ns(name: string): string {
    const n = this.nodes.get(name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return n.ns;
  }

  /** Take a node's bridge port down/up (the node sees its link go down). */
  setPort(name: string, up: boolean): void {
    sh('ip', ['-n', this.sw, 'link', 'set', `p${name}`, up ? 'up' : 'down']);
  }

  exec(name: string, cmd: string, args: string[]): string {
    return sh('ip', ['netns', 'exec', this.ns(name), cmd, ...args]);
  }

  mac(name: string): string {
    return readJsonIp(this.ns(name), ['link', 'show', 'eth0'])[0]!['address'] as string;
  }

  hasAddr(name: string, addr: string): boolean {
    const info = readJsonIp(this.ns(name), ['-4', 'addr', 'show', 'dev', 'eth0'])[0]?.['addr_info'] as
      | { local: string }[]
      | undefined;
    return (info ?? []).some((a) => a.local === addr);
  }

  neighMac(name: string, addr: string): string | undefined {
    const r = readJsonIp(this.ns(name), ['neigh', 'show', addr, 'dev', 'eth0']);
    return r[0]?.['lladdr'] as string | undefined;
  }

  /** Ping with a short deadline (up to `tries` echo requests, for a loaded machine); true if one is answered. */
  ping(name: string, addr: string, waitS = 1, tries = 3): boolean {
    for (let i = 0; i < tries; i++) {
      const r = spawnSync('ip', ['netns', 'exec', this.ns(name), 'ping', '-n', '-q', '-c', '1', '-W', String(waitS), addr]);
      if (r.status === 0) return true;
    }
    return false;
  }

  writeFile(name: string, text: string, mode = 0o644): string {
    const p = join(this.dir, name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text, { mode });
    return p;
  }

  readFile(name: string): string {
    try {
      return readFileSync(join(this.dir, name), 'utf8');
    } catch {
      return '';
    }
  }

  /** Start a program inside a node namespace; output is kept for diagnostics. */
  spawn(node: string, label: string, cmd: string, args: string[]): Proc {
    const child = spawn('ip', ['netns', 'exec', this.ns(node), cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: REPO,
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const p: Proc = { name: label, child, output: () => out, exited };
    this.procs.push(p);
    return p;
  }

  vrrpd(node: string, conf: string, extra: string[] = []): Proc & { statusSock: string } {
    const confPath = this.writeFile(`${node}-vrrpd.conf`, conf);
    const statusSock = join(this.dir, `${node}-vrrpd-${this.procs.length}.sock`);
    const p = this.spawn(node, `vrrpd@${node}`, VRRPD_BIN, ['-l', '-D', '-f', confPath, '-s', statusSock, ...extra]);
    return { ...p, statusSock };
  }

  keepalived(node: string, conf: string): Proc {
    const confPath = this.writeFile(`${node}-keepalived.conf`, conf);
    const pid = join(this.dir, `${node}-keepalived-${this.procs.length}`);
    // -n no fork, -l log to console, -D detail, own pid files so a host keepalived is not disturbed.
    return this.spawn(node, `keepalived@${node}`, 'keepalived', ['-n', '-l', '-D', '-P', '-f', confPath, '-p', `${pid}.pid`, '-r', `${pid}.vrrp.pid`]);
  }

  /**
   * Signal a process we started. SIGKILL takes its children first: keepalived's VRRP child has a parent-death
   * signal (SIGTERM), so killing the parent first would let the child stop gracefully (priority 0 advert) and
   * turn a "crash" into a clean shutdown. Other signals go to the parent only (keepalived forwards them).
   */
  kill(p: Proc, signal: NodeJS.Signals = 'SIGKILL'): void {
    const pid = p.child.pid;
    if (pid === undefined || p.child.exitCode !== null || p.child.signalCode !== null) return;
    const kids = signal === 'SIGKILL' ? childrenOf(pid) : [];
    for (const k of [...kids, pid]) {
      try {
        process.kill(k, signal);
      } catch {
        // already gone
      }
    }
  }

  dump(): string {
    return this.procs.map((p) => `----- ${p.name} -----\n${p.output()}`).join('\n');
  }

  async down(): Promise<void> {
    for (const p of this.procs) this.kill(p, 'SIGKILL');
    await Promise.race([Promise.all(this.procs.map((p) => p.exited)), sleep(3000)]);
    for (const { ns } of this.nodes.values()) spawnSync('ip', ['netns', 'del', ns]);
    spawnSync('ip', ['netns', 'del', this.sw]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Direct children of `pid`, from /proc (no procps needed). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function readJsonIp(ns: string, args: string[]): Record<string, unknown>[] {
  const r = spawnSync('ip', ['-n', ns, '-j', ...args], { encoding: 'utf8' });
  try {
    return JSON.parse(r.stdout || '[]') as Record<string, unknown>[];
  } catch {
    return [];
  }
}

// Bounds for waiting on conditions in the network tests. They are upper bounds only (a passing run waits for the
// condition, not for the bound), chosen for a shared 2-core machine at load 8-25, where starting a process alone
// has been seen to take 5 s. Speed is measured in bench/vrrp, not asserted here.
/** Processes started and a first election done. */
export const STARTUP_MS = 60_000;
/** Anything else that must eventually happen (a VIP moving, a log line, a status change). */
export const EVENTUALLY_MS = 30_000;
/** One test (several waits). */
export const TEST_MS = 240_000;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `cond` every `everyMs` until true or `timeoutMs` passes; resolves to the elapsed ms or undefined. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<number | undefined> {
  const t0 = performance.now();
  for (;;) {
    if (await cond()) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) return undefined;
    await sleep(everyMs);
  }
}

/** GET the vrrpd status JSON from its unix socket (undefined while it is not up). */
export function status(sock: string): Promise<{ instances: Record<string, unknown>[] } | undefined> {
  return new Promise((resolve) => {
    // Generous: on a busy machine the daemon can take seconds to answer; callers poll until it does.
    const req = request({ socketPath: sock, path: '/', timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as { instances: Record<string, unknown>[] });
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function stateOf(sock: string, instance = 0): Promise<string | undefined> {
  const s = await status(sock);
  return s?.instances[instance]?.['state'] as string | undefined;
}
