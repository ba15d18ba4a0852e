/**
 * The running proxy: listeners, frontends, backends, health checkers, control sockets. Built from a Config;
 * `reload` swaps in a new Config without closing listeners whose address did not change or any established
 * session (haproxy's reload hands listening sockets to the new process; here the process stays and the sockets'
 * handlers change), and `stop` closes listeners and waits for sessions to end.
 */
import net, { type Server as NetServer, type Socket } from 'node:net';
import { Backend } from './backend.ts';
import { SYSTEM_CLOCK, type Clock } from './clock.ts';
import { DEFAULT_GLOBAL_MAXCONN } from './config/defaults.ts';
import type { Bind, Config, LogTarget, ProxyConfig } from './config/types.ts';
import { ConnectionLimit, Frontend } from './frontend.ts';
import type { CheckResult } from './health/check-result.ts';
import { Checker } from './health/checker.ts';
import { probe as realProbe, type ProbeSpec } from './health/probe.ts';
import { SessionLog } from './log/session-log.ts';
import { Syslog } from './log/syslog.ts';
import { StderrLogger, type Logger } from './logger.ts';
import { MemoryTrimmer } from './memory-trim.ts';
import { CliSocket } from './runtime/cli-socket.ts';
import type { Server } from './server.ts';
import { createStatsHandler } from './stats/stats-http.ts';

export interface LoadBalancerOptions {
  log?: Logger;
  clock?: Clock;
  probe?: (spec: ProbeSpec) => Promise<CheckResult>;
}

/**
 * One listening socket. Several proxies may bind the same address: haproxy 2.6 accepts that without a word (`-c`
 * too) and, binding each with SO_REUSEPORT, lets the kernel spread the connections over them. Node 20 cannot set
 * SO_REUSEPORT, so one socket listens and its connections go to the proxies in turn.
 */
interface Listener {
  key: string;
  net: NetServer;
  bind: Bind;
  proxies: string[];
  frontends: Frontend[];
  next: number;
}

export class LoadBalancer {
  config: Config;
  readonly log: Logger;
  readonly clock: Clock;
  readonly startedAt: number;
  frontends = new Map<string, Frontend>();
  backends = new Map<string, Backend>();
  private listeners = new Map<string, Listener>();
  private checkers: Checker[] = [];
  private cliSockets: CliSocket[] = [];
  private limit: ConnectionLimit;
  private readonly trimmer: MemoryTrimmer;
  private readonly probe: (spec: ProbeSpec) => Promise<CheckResult>;
  private stopping = false;
  private syslog: Syslog;
  reloads = 0;

  private constructor(config: Config, opts: LoadBalancerOptions) {
    this.config = config;
    this.log = opts.log ?? new StderrLogger();
    this.clock = opts.clock ?? SYSTEM_CLOCK;
    this.probe = opts.probe ?? realProbe;
    this.startedAt = this.clock.now();
    this.trimmer = new MemoryTrimmer(this.clock);
    this.limit = new ConnectionLimit(config.global.maxconn ?? DEFAULT_GLOBAL_MAXCONN, this.trimmer);
    this.syslog = new Syslog(config.global.logTag);
  }

  static async start(config: Config, opts: LoadBalancerOptions = {}): Promise<LoadBalancer> {
    const lb = new LoadBalancer(config, opts);
    try {
      await lb.apply(config);
    } catch (e) {
      await lb.stop({ graceful: false });
      throw e;
    }
    return lb;
  }

  /** Swaps in a new configuration; established sessions keep running on the objects they started with. */
  async reload(config: Config): Promise<void> {
    this.reloads++;
    await this.apply(config);
    this.config = config;
    this.log.notice(`reloaded configuration from ${config.files.join(', ')}`);
  }

  private async apply(config: Config): Promise<void> {
    const oldBackends = this.backends;
    const oldFrontends = this.frontends;
    const backends = new Map<string, Backend>();
    const frontends = new Map<string, Frontend>();
    const limit = this.limit;
    for (const p of config.proxies) {
      if (p.kind === 'frontend' || p.disabled) continue;
      const be = new Backend(p, this.clock, this.log, oldBackends.get(p.name));
      const targets = logTargets(config, p);
      if (targets.length) be.onLog = (severity, msg) => this.syslog.send(targets, severity, msg);
      backends.set(p.name, be);
    }
    const defaultMaxconn = config.global.maxconn ?? DEFAULT_GLOBAL_MAXCONN;
    for (const p of config.proxies) {
      if (p.kind === 'backend' || p.disabled) continue;
      const be = p.defaultBackend !== null ? (backends.get(p.defaultBackend) ?? null) : p.kind === 'listen' ? (backends.get(p.name) ?? null) : null;
      const http = p.mode === 'http' && p.stats.enabled ? createStatsHandler(this, p) : null;
      if (p.mode === 'http' && !http) this.log.warn(`proxy '${p.name}': 'mode http' is forwarded as plain TCP`);
      const targets = logTargets(config, p);
      const sessionLog = targets.length ? new SessionLog(this.syslog, targets, p.options.tcplog, p.options.dontlognull) : null;
      const fe = new Frontend(p, be, limit, defaultMaxconn, http, oldFrontends.get(p.name), sessionLog);
      frontends.set(p.name, fe);
    }
    // Open new listeners first, so a reload that cannot bind leaves the running configuration untouched.
    const wanted = new Map<string, { bind: Bind; proxies: ProxyConfig[] }>();
    for (const p of config.proxies) {
      if (p.kind === 'backend' || p.disabled) continue;
      for (const b of p.binds) {
        const key = listenerKey(p, b);
        const w = wanted.get(key);
        if (!w) wanted.set(key, { bind: b, proxies: [p] });
        else if (!w.proxies.includes(p)) w.proxies.push(p);
      }
    }
    const opened: Listener[] = [];
    try {
      for (const [key, w] of wanted) {
        if (this.listeners.has(key)) continue;
        opened.push(await this.listen(key, w.bind, (w.proxies[0] as ProxyConfig).name));
      }
    } catch (e) {
      for (const l of opened) l.net.close();
      throw e;
    }
    // From here on the new configuration is committed.
    for (const l of opened) this.listeners.set(l.key, l);
    limit.max = config.global.maxconn ?? DEFAULT_GLOBAL_MAXCONN;
    limit.frontends.length = 0;
    limit.frontends.push(...frontends.values());
    for (const [key, l] of this.listeners) {
      const w = wanted.get(key);
      if (!w) {
        l.net.close();
        this.listeners.delete(key);
        continue;
      }
      l.proxies = w.proxies.map((p) => p.name);
      l.frontends = w.proxies.map((p) => frontends.get(p.name) as Frontend);
      l.next = 0;
      if (l.proxies.length > 1) this.log.notice(`proxies ${l.proxies.map((n) => `'${n}'`).join(', ')} share ${key}: connections go to each in turn`);
    }
    for (const c of this.checkers) c.stop();
    for (const [name, be] of backends) {
      const old = oldBackends.get(name);
      if (old) be.adopt(old);
    }
    for (const [name, fe] of frontends) {
      const old = oldFrontends.get(name);
      if (old) fe.adopt(old);
    }
    for (const fe of oldFrontends.values()) if (!frontends.has(fe.name)) fe.stop();
    for (const be of oldBackends.values()) if (!backends.has(be.name)) be.flushQueue();
    this.frontends = frontends;
    this.backends = backends;
    this.checkers = this.startCheckers(backends);
    await this.openCliSockets(config);
  }

  private listen(key: string, bind: Bind, proxy: string): Promise<Listener> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: false });
      const l: Listener = { key, net: server, bind, proxies: [proxy], frontends: [], next: 0 };
      server.on('connection', (s: Socket) => {
        const n = l.frontends.length;
        if (n === 0) return void s.destroy();
        const fe = l.frontends[n === 1 ? 0 : l.next++ % n] as Frontend;
        fe.handle(s);
      });
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`${bind.file}:${bind.line}: proxy '${proxy}': cannot bind ${bind.host || '*'}:${bind.port}: ${err.code ?? err.message}`)),
      );
      const opts: net.ListenOptions = { port: bind.port, backlog: 1024 };
      if (bind.host) opts.host = bind.host;
      server.listen(opts, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.log.alert(`listener ${key}: ${err.message}`));
        resolve(l);
      });
    });
  }

  private startCheckers(backends: Map<string, Backend>): Checker[] {
    const checkers: Checker[] = [];
    for (const be of backends.values()) {
      const checked = be.servers.filter((s) => s.checked);
      checked.forEach((srv, i) => {
        const spec = this.probeSpec(be.config, srv);
        if (!spec) {
          this.log.warn(`server ${be.name}/${srv.name} has no port to check; health checks disabled`);
          return;
        }
        const checker = new Checker(srv, () => this.probe(spec), this.clock, {
          onTransition: (s, to, result) => this.onTransition(be, s, to, result),
        });
        // haproxy: the first checks of a backend's servers are spread evenly over one interval.
        checker.start(Math.floor((i * srv.config.inter) / checked.length));
        checkers.push(checker);
      });
    }
    return checkers;
  }

  private probeSpec(p: ProxyConfig, srv: Server): ProbeSpec | null {
    const c = srv.config;
    const port = c.checkPort ?? c.port;
    if (port === null) return null;
    const t = p.timeouts;
    // haproxy: with `timeout check`, connect uses min(timeout connect, inter) and the answer timeout check;
    // without it, inter bounds both.
    const connectTimeoutMs = t.check !== null ? Math.min(t.connect ?? c.inter, c.inter) : c.inter;
    const readTimeoutMs = t.check ?? c.inter;
    const spec: ProbeSpec = { kind: p.options.amqpCheck ? 'amqp' : p.options.httpCheck ? 'http' : 'tcp', host: c.checkAddr ?? c.host, port, connectTimeoutMs, readTimeoutMs };
    if (p.options.httpCheck) spec.http = p.options.httpCheck;
    return spec;
  }

  private onTransition(be: Backend, srv: Server, to: 'up' | 'down', result: CheckResult): void {
    const reason = `${describeStatus(result)}${result.info ? `, info: "${result.info}"` : ''}, check duration: ${result.durationMs}ms`;
    be.noteServerChange(this.clock.now());
    be.logTransition(srv, to === 'up' ? 'UP' : 'DOWN', reason);
    if (to === 'down' && srv.config.onMarkedDown === 'shutdown-sessions') {
      for (const s of [...srv.sessions]) s.shutdown('server marked down'); // haproxy: on-marked-down shutdown-sessions
    }
    if (to === 'up' && srv.config.onMarkedUp === 'shutdown-backup-sessions' && !srv.config.backup) {
      for (const b of be.servers) if (b.config.backup) for (const s of [...b.sessions]) s.shutdown('active server up');
    }
    be.drainQueue();
  }

  /** Applies an administrative change made through the runtime API and logs it like haproxy. */
  adminChanged(be: Backend, srv: Server, what: string): void {
    srv.noteStateChange(this.clock.now());
    be.noteServerChange(this.clock.now());
    be.logTransition(srv, what, '');
    be.drainQueue();
  }

  private async openCliSockets(config: Config): Promise<void> {
    const wanted = config.global.statsSockets;
    const keep: CliSocket[] = [];
    for (const c of this.cliSockets) {
      if (wanted.some((w) => w.path === c.path)) keep.push(c);
      else await c.close();
    }
    for (const w of wanted) {
      const existing = keep.find((c) => c.path === w.path);
      if (existing) {
        existing.level = w.level;
        continue;
      }
      try {
        keep.push(await CliSocket.open(this, w));
      } catch (e) {
        this.log.warn(`${w.file}:${w.line}: 'stats socket' : cannot open ${w.path}: ${(e as Error).message}; runtime API not available there`);
      }
    }
    this.cliSockets = keep;
  }

  /** The addresses actually bound for a proxy (after port 0 was resolved by the kernel). */
  addresses(proxy: string): { host: string; port: number }[] {
    const out: { host: string; port: number }[] = [];
    for (const l of this.listeners.values()) {
      if (!l.proxies.includes(proxy)) continue;
      const a = l.net.address();
      if (a && typeof a === 'object') out.push({ host: a.address, port: a.port });
    }
    return out;
  }

  findServer(spec: string): { be: Backend; srv: Server } | string {
    const slash = spec.indexOf('/');
    if (slash < 0) return `Require 'backend/server'.`;
    const be = this.backends.get(spec.slice(0, slash));
    if (!be) return 'No such backend.';
    const srv = be.servers.find((s) => s.name === spec.slice(slash + 1));
    if (!srv) return 'No such server.';
    return { be, srv };
  }

  get sessionCount(): number {
    let n = 0;
    for (const b of this.backends.values()) n += b.cur;
    return this.limit.cur > n ? this.limit.cur : n;
  }

  /**
   * Stops listening and checking. Graceful: established sessions may finish, until `hardStopAfterMs` (haproxy:
   * hard-stop-after) when the rest are closed. Not graceful: everything closes now.
   */
  async stop(opts: { graceful: boolean; hardStopAfterMs?: number | null } = { graceful: false }): Promise<void> {
    this.stopping = true;
    this.trimmer.stop();
    for (const c of this.checkers) c.stop();
    this.checkers = [];
    // close() stops accepting at once; its callback would wait for every accepted socket, so it is not awaited.
    for (const l of this.listeners.values()) l.net.close();
    this.listeners.clear();
    for (const c of this.cliSockets) await c.close();
    this.cliSockets = [];
    for (const fe of this.frontends.values()) fe.stop();
    for (const be of this.backends.values()) be.flushQueue();
    const killAll = (): void => {
      for (const fe of this.frontends.values()) for (const s of [...fe.sessions]) s.shutdown();
    };
    if (!opts.graceful) {
      killAll();
      this.syslog.close();
      return;
    }
    const deadline = opts.hardStopAfterMs ?? null;
    const started = Date.now();
    while (this.limit.cur > 0) {
      if (deadline !== null && Date.now() - started >= deadline) {
        this.log.warn(`hard-stop-after reached: closing ${this.limit.cur} remaining sessions`);
        killAll();
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    this.syslog.close();
  }

  get isStopping(): boolean {
    return this.stopping;
  }
}

function logTargets(config: Config, p: ProxyConfig): LogTarget[] {
  return p.logGlobal ? [...p.logTargets, ...config.global.logTargets] : p.logTargets;
}

function listenerKey(p: ProxyConfig, b: Bind): string {
  // Port 0 is "any free port": such listeners are only reused by the same proxy.
  return b.port === 0 ? `${p.name}|${b.host}:0` : `${b.host}:${b.port}`;
}

function describeStatus(r: CheckResult): string {
  const layer = r.status.slice(0, 2) === 'L4' ? 'Layer4' : r.status.slice(0, 2) === 'L6' ? 'Layer6' : 'Layer7';
  if (r.ok) return `${layer} check passed`;
  if (r.status.endsWith('TOUT')) return `${layer} timeout`;
  if (r.status === 'L4CON') return 'Layer4 connection problem';
  return `${layer} invalid response`;
}
