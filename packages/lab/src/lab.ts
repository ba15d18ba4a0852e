// The lab itself: `up` builds the seeds' topology (network namespaces on one bridge, or loopback ports without
// root), `down` removes everything the state file lists, and the operations scenarios and the live page use: kill,
// hang, resume, restart and cut off a host; brokerctl on a node; where the virtual IP is; each proxy's view.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { BIN, program, BROKERS, DISC, HA_POLICY, HOSTS, HOST_OCTET, LBS, PKG, REPO, VIP_OCTET, checkScript, etcHosts, haproxyCfg, host, keepalivedConf, nodeName, notifyScript, rabbitmqConf, type Placement } from './topology.ts';
import { findByMarker, must, ours, runAsync, procState, run, signal, sleep, startDetached, waitFor, waitGone, childrenOf } from './procs.ts';
import { eventsFile, logEvent, readState, stateFile, writeState, type LabState, type ProcEntry } from './state.ts';

export interface UpOptions {
  dir: string;
  prefix: string;
  subnet: string;
  loopback: boolean;
  realHaproxy: string[];
  realKeepalived: string[];
  page: boolean;
  log: (line: string) => void;
}

const NFT_TABLE = 'warren_lab';

export function placement(s: LabState): Placement {
  const netns = s.mode === 'netns';
  return {
    addr: (h) => (netns ? `${s.subnet}.${host(h).octet}` : '127.0.0.1'),
    amqpPort: (h) => (netns ? 5672 : s.ports[h]!['amqp']!),
    mgmtPort: (h) => (netns ? 15672 : s.ports[h]!['mgmt']!),
    lbPorts: (h) => (netns ? { amqp: 5672, mgmt: 15672, stats: 8888 } : { amqp: s.ports[h]!['amqp']!, mgmt: s.ports[h]!['mgmt']!, stats: s.ports[h]!['stats']! }),
    dir: (h) => join(s.dir, h),
    vip: `${s.subnet}.${VIP_OCTET}`,
    iface: 'eth0',
    labDir: s.dir,
  };
}

export class Lab {
  readonly p: Placement;
  constructor(public s: LabState) {
    this.p = placement(s);
  }

  static open(dir: string): Lab {
    const s = readState(dir);
    if (s === null) throw new Error(`no lab is up in ${dir} (no ${stateFile(dir)}); run: lab up`);
    return new Lab(s);
  }

  reload(): void {
    const s = readState(this.s.dir);
    if (s !== null) this.s = s;
  }

  save(): void {
    writeState(this.s);
  }

  get netns(): boolean {
    return this.s.mode === 'netns';
  }

  ns(h: string): string {
    return `${this.s.prefix}-${h}`;
  }

  get sw(): string {
    return `${this.s.prefix}-sw`;
  }

  addr(h: string): string {
    return this.p.addr(h);
  }

  get vip(): string {
    return this.p.vip;
  }

  /** Where a client connects: the virtual IP (netns) or haproxy02's AMQP frontend (loopback: no VRRP). */
  clientUrl(): string {
    return this.netns ? `amqp://guest:guest@${this.vip}:5672` : `amqp://guest:guest@127.0.0.1:${this.p.lbPorts('haproxy02').amqp}`;
  }

  /** argv prefix that runs a command in a host (its namespace) */
  wrap(h: string, argv: string[]): string[] {
    return this.netns ? ['ip', 'netns', 'exec', this.ns(h), ...argv] : argv;
  }

  hostEnv(h: string): Record<string, string> {
    return {
      WARREN_LAB: this.s.dir,
      WARREN_COOKIE_FILE: join(this.s.dir, 'erlang.cookie'),
      // each host has its own node registry (its epmd): a shared one would send every rabbit@name to 127.0.0.1
      WARREN_NODE_REGISTRY: this.netns ? join(this.s.dir, h, 'registry') : join(this.s.dir, 'registry'),
      RABBITMQ_NODENAME: nodeName(host(h).role === 'broker' ? h : DISC.name),
    };
  }

  event(kind: string, text: string, h?: string): void {
    logEvent(this.s.dir, kind, text, h);
  }

  // ---------------------------------------------------------------- processes

  proc(key: string): ProcEntry | undefined {
    return this.s.procs[key];
  }

  alive(key: string): boolean {
    const e = this.s.procs[key];
    return e !== undefined && ours(e.pid, this.s.dir);
  }

  /** running / hung (SIGSTOPped) / down */
  procStatus(key: string): 'running' | 'hung' | 'down' {
    const e = this.s.procs[key];
    if (e === undefined || !ours(e.pid, this.s.dir)) return 'down';
    return procState(e.pid) === 'T' ? 'hung' : 'running';
  }

  startProc(key: string, h: string, kind: string, argv: string[], env: Record<string, string> = {}): void {
    const log = join(this.s.dir, h, `${kind}.log`);
    const full = this.wrap(h, argv);
    const allEnv = { ...this.hostEnv(h), ...env };
    this.reload();
    if (this.alive(key)) return;
    const pid = startDetached(full, allEnv, log, REPO);
    this.s.procs[key] = { host: h, kind, pid, argv: full, env: allEnv, log };
    this.save();
  }

  restartProc(key: string): void {
    this.reload();
    const e = this.s.procs[key];
    if (e === undefined) throw new Error(`no process ${key} in this lab`);
    if (this.alive(key)) return;
    e.pid = startDetached(e.argv, e.env, e.log, REPO);
    this.save();
  }

  /** SIGKILL (children first: keepalived's VRRP child would otherwise stop gracefully) */
  async killProc(key: string, sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.reload();
    const e = this.s.procs[key];
    if (e === undefined || !ours(e.pid, this.s.dir)) return;
    if (procState(e.pid) === 'T') signal(e.pid, this.s.dir, 'SIGCONT');
    if (sig === 'SIGKILL') for (const c of childrenOf(e.pid)) signal(c, this.s.dir, 'SIGKILL');
    signal(e.pid, this.s.dir, sig);
    if (!(await waitGone(e.pid, this.s.dir, sig === 'SIGKILL' ? 5000 : 20_000))) signal(e.pid, this.s.dir, 'SIGKILL');
    await waitGone(e.pid, this.s.dir, 5000);
  }

  /** The processes of a host, by key. */
  hostProcs(h: string): string[] {
    return Object.keys(this.s.procs).filter((k) => this.s.procs[k]!.host === h && this.s.procs[k]!.kind !== 'page');
  }

  // ------------------------------------------------------------- host faults

  async kill(h: string, kind?: string): Promise<void> {
    let any = false;
    for (const k of this.hostProcs(h)) {
      if (kind !== undefined && this.s.procs[k]!.kind !== kind) continue;
      any = this.alive(k) || any;
      await this.killProc(k);
    }
    if (any) this.event('fault', `kill -9 ${kind ?? 'everything'} on ${h}`, h);
  }

  hang(h: string, kind?: string): void {
    for (const k of this.hostProcs(h)) if (kind === undefined || this.s.procs[k]!.kind === kind) signal(this.s.procs[k]!.pid, this.s.dir, 'SIGSTOP');
    this.event('fault', `SIGSTOP ${kind ?? 'everything'} on ${h} (hung)`, h);
  }

  resume(h: string): void {
    for (const k of this.hostProcs(h)) signal(this.s.procs[k]!.pid, this.s.dir, 'SIGCONT');
    this.event('fault', `SIGCONT on ${h}`, h);
  }

  restart(h: string, kind?: string): void {
    for (const k of this.hostProcs(h)) {
      const e = this.s.procs[k]!;
      if (kind !== undefined && e.kind !== kind) continue;
      if (procState(e.pid) === 'T') signal(e.pid, this.s.dir, 'SIGCONT');
      this.restartProc(k);
    }
    this.event('fault', `start ${kind ?? 'everything'} on ${h}`, h);
  }

  /** Cut a host off the network (its bridge port down) or connect it again. */
  cut(h: string, off: boolean): void {
    if (!this.netns) throw new Error('cutting a host off needs the network namespaces (lab up without --loopback, as root)');
    must('ip', ['-n', this.sw, 'link', 'set', `p-${h}`.slice(0, 15), off ? 'down' : 'up']);
    this.event('fault', `${h} ${off ? 'cut off the network' : 'connected again'}`, h);
  }

  isCut(h: string): boolean {
    if (!this.netns) return false;
    const r = run('ip', ['-n', this.sw, '-j', 'link', 'show', `p-${h}`.slice(0, 15)]);
    try {
      return !((JSON.parse(r.out) as { flags: string[] }[])[0]?.flags ?? []).includes('UP');
    } catch {
      return false;
    }
  }

  /** Partition the brokers: `side` on one side, the other brokers on the other (nftables drops between them). */
  split(side: string[]): void {
    if (!this.netns) throw new Error('partitions need the network namespaces');
    const others = BROKERS.map((b) => b.name).filter((b) => !side.includes(b));
    for (const [me, peers] of [...side.map((g) => [g, others] as const), ...others.map((o) => [o, side] as const)]) {
      const set = peers.map((x) => this.addr(x)).join(', ');
      run('ip', ['netns', 'exec', this.ns(me), 'nft', 'delete', 'table', 'inet', NFT_TABLE]);
      must('ip', ['netns', 'exec', this.ns(me), 'nft', '-f', '-'], `table inet ${NFT_TABLE} {
  chain in { type filter hook input priority 0; policy accept; ip saddr { ${set} } drop; }
  chain out { type filter hook output priority 0; policy accept; ip daddr { ${set} } drop; }
}\n`);
    }
    this.event('fault', `partition: ${side.join(',')} | ${others.join(',')}`);
  }

  heal(): void {
    let healed = false;
    for (const b of BROKERS) healed = run('ip', ['netns', 'exec', this.ns(b.name), 'nft', 'delete', 'table', 'inet', NFT_TABLE]).code === 0 || healed;
    if (healed) this.event('fault', 'partition healed');
  }

  // ------------------------------------------------------------- observation

  /** brokerctl against a broker host's node, run in that host. */
  ctl(h: string, args: string[], timeoutS = 10): Promise<{ code: number; out: string; err: string }> {
    return new Promise((res) => {
      const argv = this.wrap(h, [...program('brokerctl'), '-n', nodeName(h), '-t', String(timeoutS), ...args]);
      const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...this.hostEnv(h) }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const t = setTimeout(() => child.kill('SIGKILL'), (timeoutS + 20) * 1000);
      child.once('exit', (code) => {
        clearTimeout(t);
        res({ code: code ?? -1, out, err });
      });
    });
  }

  async ctlOk(h: string, args: string[], timeoutS = 30): Promise<string> {
    const r = await this.ctl(h, args, timeoutS);
    if (r.code !== 0) throw new Error(`${h}: brokerctl ${args.join(' ')} failed (${r.code}): ${(r.err + r.out).trim()}`);
    return r.out;
  }

  /** Which load balancer holds the virtual IP (netns), or null; one that is cut off does not count. */
  vipHolder(): string | null {
    if (!this.netns) return null;
    const holders = LBS.map((l) => l.name).filter((l) => this.vipHolderOf(l));
    return holders.find((h) => !this.isCut(h)) ?? holders[0] ?? null;
  }

  /** vipHolder() without blocking the event loop, for the live page */
  async vipHolderAsync(cut: Set<string>): Promise<string | null> {
    if (!this.netns) return null;
    const has = await Promise.all(
      LBS.map(async (l) => {
        const r = await runAsync('ip', ['-n', this.ns(l.name), '-j', '-4', 'addr', 'show', 'dev', 'eth0']);
        try {
          return ((JSON.parse(r.out) as { addr_info: { local: string }[] }[])[0]?.addr_info ?? []).some((a) => a.local === this.vip);
        } catch {
          return false;
        }
      }),
    );
    const holders = LBS.map((l) => l.name).filter((_, i) => has[i]);
    return holders.find((h) => !cut.has(h)) ?? holders[0] ?? null;
  }

  vipHolderOf(lb: string): boolean {
    const r = run('ip', ['-n', this.ns(lb), '-j', '-4', 'addr', 'show', 'dev', 'eth0']);
    try {
      const info = (JSON.parse(r.out) as { addr_info: { local: string }[] }[])[0]?.addr_info ?? [];
      return info.some((a) => a.local === this.vip);
    } catch {
      return false;
    }
  }

  /** A proxy's backend states from its stats socket: `server` -> UP / DOWN / MAINT (AMQP backend only). */
  async backends(lb: string): Promise<Record<string, string> | null> {
    const out = await statsCommand(join(this.s.dir, lb, 'haproxy.stats'), 'show stat\n');
    if (out === null) return null;
    const res: Record<string, string> = {};
    const lines = out.split('\n');
    const header = (lines[0] ?? '').replace(/^# /, '').split(',');
    const col = header.indexOf('status');
    for (const l of lines.slice(1)) {
      const f = l.split(',');
      if (f[0] !== 'kevin_rabbitMQ_cluster_backend' || f[1] === 'BACKEND' || f[1] === 'FRONTEND' || f[1] === undefined) continue;
      const short = f[1].replace('.kevin.cn', '');
      res[short] = (f[col] ?? '?').split(' ')[0]!;
    }
    return res;
  }

  /**
   * GET a management API path: from the first running broker in order (so that successive looks come from one
   * node's view), and if it does not answer within 0.7 s (hung, cut off), from whichever other one answers first.
   */
  async mgmt(path: string, from: string[] = BROKERS.map((b) => b.name)): Promise<unknown> {
    const ask = from.filter((b) => this.procStatus(`${b}/broker`) === 'running');
    if (ask.length === 0) return null;
    const get = async (b: string, ms: number): Promise<unknown> => {
      const ctrl = new AbortController();
      const t = setTimeout(() => ctrl.abort(), ms);
      try {
        const r = await fetch(`http://${this.addr(b)}:${this.p.mgmtPort(b)}${path}`, { headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` }, signal: ctrl.signal });
        if (!r.ok) throw new Error(`${r.status}`);
        return (await r.json()) as unknown;
      } finally {
        clearTimeout(t);
      }
    };
    try {
      return await get(ask[0]!, 700);
    } catch {
      if (ask.length === 1) return null;
      return await Promise.any(ask.slice(1).map((b) => get(b, 1500))).catch(() => null);
    }
  }

  /** The hosts whose link is down (one look at the switch). */
  async cutHosts(): Promise<Set<string>> {
    const out = new Set<string>();
    if (!this.netns) return out;
    const r = await runAsync('ip', ['-n', this.sw, '-j', 'link', 'show']);
    try {
      for (const l of JSON.parse(r.out) as { ifname: string; flags: string[] }[]) {
        const h = HOSTS.find((x) => `p-${x.name}`.slice(0, 15) === l.ifname);
        if (h !== undefined && !l.flags.includes('UP')) out.add(h.name);
      }
    } catch {
      // switch gone
    }
    return out;
  }
}

/** One command on a proxy's stats socket (HAProxy's runtime API); null when it does not answer. */
export function statsCommand(sock: string, cmd: string, timeoutMs = 1500): Promise<string | null> {
  return new Promise((res) => {
    if (!existsSync(sock)) return res(null);
    const c = createConnection(sock);
    let out = '';
    const t = setTimeout(() => {
      c.destroy();
      res(null);
    }, timeoutMs);
    c.on('connect', () => c.write(cmd));
    c.on('data', (d: Buffer) => (out += d.toString()));
    c.on('end', () => {
      clearTimeout(t);
      res(out);
    });
    c.on('error', () => {
      clearTimeout(t);
      res(null);
    });
  });
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const p = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(p));
    });
  });
}

function tcpOpen(addr: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const c = createConnection({ host: addr, port });
    const t = setTimeout(() => {
      c.destroy();
      res(false);
    }, 500);
    c.once('connect', () => {
      clearTimeout(t);
      c.destroy();
      res(true);
    });
    c.once('error', () => {
      clearTimeout(t);
      res(false);
    });
  });
}

export function rootProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  if (run('ip', ['netns', 'list']).code !== 0) return 'ip netns is unavailable';
  return undefined;
}

// ---------------------------------------------------------------------------------------------------- lab up

export async function up(o: UpOptions): Promise<Lab> {
  const t0 = Date.now();
  const existing = readState(o.dir);
  if (existing !== null) throw new Error(`a lab is already up in ${o.dir} (started ${new Date(existing.startedAt).toISOString()}); run: lab down`);
  if (!o.loopback) {
    const why = rootProblem();
    if (why !== undefined) throw new Error(`lab up needs root for the network namespaces (${why}); run it as root, or use lab up --loopback (brokers and proxies on loopback ports, without VRRP)`);
    const route = run('ip', ['-4', 'route', 'show', `${o.subnet}.0/24`]).out.trim();
    if (route !== '') throw new Error(`this machine already has a route to ${o.subnet}.0/24 (${route}); give another --subnet`);
    const taken = run('ip', ['netns', 'list']).out.split('\n').filter((l) => l.startsWith(`${o.prefix}-`));
    if (taken.length > 0) throw new Error(`namespaces named ${o.prefix}-* exist already (${taken.join(', ')}): a lab crashed? run: lab down --prefix ${o.prefix}`);
  }
  mkdirSync(o.dir, { recursive: true, mode: 0o755 });
  chmodSync(o.dir, 0o755);
  const s: LabState = {
    version: 1,
    mode: o.loopback ? 'loopback' : 'netns',
    prefix: o.prefix,
    dir: o.dir,
    subnet: o.loopback ? '127.0.0' : o.subnet,
    namespaces: [],
    etcNetns: [],
    hostIf: null,
    procs: {},
    ports: {},
    pagePort: null,
    real: { haproxy: o.realHaproxy, keepalived: o.realKeepalived },
    startedAt: t0,
  };
  if (o.loopback) {
    for (const h of HOSTS) {
      if (h.role === 'broker') s.ports[h.name] = { amqp: await freePort(), mgmt: await freePort(), dist: await freePort() };
      if (h.role === 'lb') s.ports[h.name] = { amqp: await freePort(), mgmt: await freePort(), stats: await freePort() };
    }
  }
  writeState(s);
  const lab = new Lab(s);
  writeFileSync(eventsFile(o.dir), '');
  for (const h of HOSTS) mkdirSync(join(o.dir, h.name), { recursive: true });
  if (!o.loopback) buildNetwork(lab);
  writeConfigs(lab);
  lab.event('lab', `lab up (${s.mode})`);

  program('broker');
  program('brokerctl');
  // brokers, proxies and VRRP daemons start together; the proxies' health checks find the brokers as they come up
  for (const b of BROKERS) startBroker(lab, b.name);
  for (const lb of LBS) {
    startProxy(lab, lb.name);
    if (!o.loopback) startVrrp(lab, lb.name);
  }
  o.log(`starting 3 brokers, 2 proxies${o.loopback ? '' : ', 2 VRRP daemons'} ...`);
  for (const b of BROKERS) {
    const ok = await waitFor(() => lab.alive(`${b.name}/broker`) && tcpOpen(lab.addr(b.name), lab.p.amqpPort(b.name)), 60_000, 100);
    if (ok === undefined) throw new Error(`${b.name}: the broker did not open its AMQP port within 60 s; see ${join(o.dir, b.name, 'broker.log')}`);
  }
  // the seeds' procedure on the ram nodes: stop_app; join_cluster --ram rabbit@<disc>; start_app
  o.log(`clustering: ${BROKERS.filter((b) => b.type === 'ram').map((b) => b.name).join(' and ')} join ${nodeName(DISC.name)} with --ram ...`);
  await Promise.all(
    BROKERS.filter((x) => x.type === 'ram').map(async (b) => {
      await lab.ctlOk(b.name, ['stop_app']);
      await lab.ctlOk(b.name, ['join_cluster', '--ram', nodeName(DISC.name)]);
      await lab.ctlOk(b.name, ['start_app']);
    }),
  );
  await lab.ctlOk(DISC.name, ['set_policy', HA_POLICY.name, HA_POLICY.pattern, HA_POLICY.definition]);
  if (!o.loopback) {
    const vip = await waitFor(() => lab.vipHolder() !== null, 30_000, 100);
    if (vip === undefined) throw new Error(`no load balancer took the virtual IP ${lab.vip} within 30 s; see ${join(o.dir, 'haproxy02', 'vrrpd.log')}`);
  }
  // the ram nodes stopped their app to join: the proxies mark them UP at their next check (inter 3s)
  await waitFor(async () => {
    for (const lb of LBS) {
      const b = await lab.backends(lb.name);
      if (b === null || Object.values(b).some((v) => v !== 'UP')) return false;
    }
    return true;
  }, 30_000, 100);
  if (o.page) await startPage(lab);
  lab.event('lab', `lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return lab;
}

function buildNetwork(lab: Lab): void {
  const s = lab.s;
  const add = (ns: string): void => {
    s.namespaces.push(ns);
    lab.save();
    must('ip', ['netns', 'add', ns]);
  };
  add(lab.sw);
  must('ip', ['-n', lab.sw, 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0']);
  must('ip', ['-n', lab.sw, 'link', 'set', 'br0', 'type', 'bridge', 'mcast_snooping', '0']);
  must('ip', ['-n', lab.sw, 'link', 'set', 'br0', 'up']);
  const hosts = etcHosts(lab.p);
  for (const h of HOSTS) {
    const ns = lab.ns(h.name);
    add(ns);
    const port = `p-${h.name}`.slice(0, 15);
    must('ip', ['-n', lab.sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    must('ip', ['-n', lab.sw, 'link', 'set', port, 'master', 'br0', 'up']);
    must('ip', ['-n', ns, 'addr', 'add', `${lab.addr(h.name)}/24`, 'dev', 'eth0']);
    must('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    // the seeds' step 1, /etc/hosts naming every machine: ip netns exec bind-mounts /etc/netns/<ns>/hosts over it
    const etc = join('/etc/netns', ns);
    s.etcNetns.push(etc);
    lab.save();
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'hosts'), hosts);
  }
  // this machine on the lab network (the page and the scenarios reach the brokers' management API and the VIP);
  // deleting the switch namespace deletes this veth too
  const hostIf = `${s.prefix}-h`.slice(0, 15);
  s.hostIf = hostIf;
  lab.save();
  must('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'phost', 'netns', lab.sw]);
  must('ip', ['-n', lab.sw, 'link', 'set', 'phost', 'master', 'br0', 'up']);
  must('ip', ['addr', 'add', `${s.subnet}.${HOST_OCTET}/24`, 'dev', hostIf]);
  must('ip', ['link', 'set', hostIf, 'up']);
}

function writeConfigs(lab: Lab): void {
  const d = lab.s.dir;
  writeFileSync(join(d, 'rabbitmq.conf'), rabbitmqConf());
  // the seeds copy one .erlang.cookie to every node
  writeFileSync(join(d, 'erlang.cookie'), `WARRENLAB${Math.random().toString(36).slice(2, 14).toUpperCase()}\n`, { mode: 0o600 });
  for (const lb of LBS) {
    const hd = join(d, lb.name);
    writeFileSync(join(hd, 'haproxy.cfg'), haproxyCfg(lb.name, lab.p, lab.s.real.haproxy.includes(lb.name)));
    const check = join(hd, 'chk_haproxy.sh');
    writeFileSync(check, checkScript(join(hd, 'haproxy.pid')), { mode: 0o755 });
    const notify = join(hd, 'keepalived_notify_for_haproxy.sh');
    writeFileSync(notify, notifyScript(lb.name, eventsFile(d)), { mode: 0o755 });
    writeFileSync(join(hd, 'keepalived.conf'), keepalivedConf(lb.name, lab.p, notify, check));
  }
  // the programs, for lab shell's PATH (rabbitmqctl/haproxy/keepalived names as in the seeds' commands)
  const bin = join(d, 'bin');
  mkdirSync(bin, { recursive: true });
  for (const [name, target] of [
    ['brokerctl', BIN.brokerctl],
    ['rabbitmqctl', BIN.brokerctl],
    ['broker', BIN.broker],
    ['proxy', BIN.proxy],
    ['vrrpd', BIN.vrrpd],
    ['lab', join(PKG, 'bin', 'lab')],
  ] as const) {
    if (!existsSync(join(bin, name))) symlinkSync(target, join(bin, name));
  }
}

function startBroker(lab: Lab, h: string): void {
  const d = join(lab.s.dir, h);
  const args = [...program('broker'), '--config', join(lab.s.dir, 'rabbitmq.conf'), '--data-dir', join(d, 'data'), '--node-name', nodeName(h), '--management-port', String(lab.p.mgmtPort(h))];
  if (lab.netns) args.push('--management-host', '0.0.0.0');
  else args.push('--port', String(lab.p.amqpPort(h)), '--dist-port', String(lab.s.ports[h]!['dist']), '--host', '127.0.0.1', '--management-host', '127.0.0.1');
  lab.startProc(`${h}/broker`, h, 'broker', args);
}

function startProxy(lab: Lab, h: string): void {
  const cfg = join(lab.s.dir, h, 'haproxy.cfg');
  if (lab.s.real.haproxy.includes(h)) {
    // -W -db: master-worker in the foreground, so that the pid file (the master's pid) is written as in daemon mode
    lab.startProc(`${h}/proxy`, h, 'haproxy', ['/usr/sbin/haproxy', '-W', '-db', '-f', cfg, '-p', join(lab.s.dir, h, 'haproxy.pid')]);
  } else {
    // -db: in the foreground although the seed's global section says daemon (the lab supervises it)
    lab.startProc(`${h}/proxy`, h, 'proxy', [BIN.proxy, '-db', '-f', cfg, '-p', join(lab.s.dir, h, 'haproxy.pid')]);
  }
}

function startVrrp(lab: Lab, h: string): void {
  const hd = join(lab.s.dir, h);
  const conf = join(hd, 'keepalived.conf');
  if (lab.s.real.keepalived.includes(h)) {
    lab.startProc(`${h}/vrrp`, h, 'keepalived', ['keepalived', '-n', '-l', '-D', '-P', '-f', conf, '-p', join(hd, 'keepalived.pid'), '-r', join(hd, 'keepalived.vrrp.pid')]);
  } else {
    lab.startProc(`${h}/vrrp`, h, 'vrrpd', [BIN.vrrpd, '-l', '-D', '-f', conf, '-s', join(hd, 'vrrpd.sock')]);
  }
}

async function startPage(lab: Lab): Promise<void> {
  const port = lab.s.pagePort ?? (await freePort());
  lab.s.pagePort = port;
  lab.save();
  const argv = [process.execPath, ...process.execArgv, join(PKG, 'src', 'bin', 'lab.ts'), 'serve', '--dir', lab.s.dir, '--port', String(port)];
  const log = join(lab.s.dir, 'page.log');
  lab.reload();
  const pid = startDetached(argv, { WARREN_LAB: lab.s.dir }, log, REPO);
  lab.s.procs['page'] = { host: 'lab', kind: 'page', pid, argv, env: { WARREN_LAB: lab.s.dir }, log };
  lab.save();
  await waitFor(() => tcpOpen('127.0.0.1', port), 20_000, 100);
}

// -------------------------------------------------------------------------------------------------- lab down

/**
 * Removes everything a lab made, from its state file, and whatever carries its prefix or mentions its directory even
 * when the state file is gone or partial. Idempotent.
 */
export async function down(dir: string, prefix: string, log: (l: string) => void): Promise<void> {
  const s = readState(dir);
  const pre = s?.prefix ?? prefix;
  const pids = new Set<number>();
  for (const e of Object.values(s?.procs ?? {})) if (ours(e.pid, dir)) pids.add(e.pid);
  for (const p of findByMarker(dir)) pids.add(p);
  for (const p of pids) {
    try {
      process.kill(p, 'SIGCONT');
    } catch {
      // gone
    }
  }
  for (const p of pids) for (const c of childrenOf(p)) signal(c, dir, 'SIGKILL');
  for (const p of pids) signal(p, dir, 'SIGKILL');
  for (const p of pids) await waitGone(p, dir, 5000);
  if (pids.size > 0) log(`stopped ${pids.size} processes`);
  const nsList = new Set(s?.namespaces ?? []);
  if (process.getuid?.() === 0) {
    for (const l of run('ip', ['netns', 'list']).out.split('\n')) {
      const name = l.split(' ')[0] ?? '';
      if (name.startsWith(`${pre}-`)) nsList.add(name);
    }
    for (const ns of nsList) run('ip', ['netns', 'del', ns]);
    if (nsList.size > 0) log(`deleted ${nsList.size} network namespaces`);
    const hostIf = s?.hostIf ?? `${pre}-h`.slice(0, 15);
    run('ip', ['link', 'del', hostIf]);
    for (const e of [...(s?.etcNetns ?? []), ...nsList].map((x) => (x.startsWith('/') ? x : join('/etc/netns', x)))) {
      if (e.startsWith(`/etc/netns/${pre}-`)) rmSync(e, { recursive: true, force: true });
    }
  }
  if (existsSync(dir)) {
    rmSync(dir, { recursive: true, force: true });
    log(`removed ${dir}`);
  }
}

/** What is left of a lab (for the tests and lab status): processes, namespaces, files. */
export function leftovers(dir: string, prefix: string): string[] {
  const out: string[] = [];
  for (const p of findByMarker(dir)) out.push(`process ${p}`);
  for (const l of run('ip', ['netns', 'list']).out.split('\n')) if (l.startsWith(`${prefix}-`)) out.push(`namespace ${l.split(' ')[0]}`);
  if (run('ip', ['link', 'show', `${prefix}-h`.slice(0, 15)]).code === 0) out.push(`link ${prefix}-h`);
  for (const h of HOSTS) if (existsSync(`/etc/netns/${prefix}-${h.name}`)) out.push(`/etc/netns/${prefix}-${h.name}`);
  if (existsSync(`/etc/netns/${prefix}-sw`)) out.push(`/etc/netns/${prefix}-sw`);
  if (existsSync(dir)) out.push(dir);
  return out;
}

export { sleep };
