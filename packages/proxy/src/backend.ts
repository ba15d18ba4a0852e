/**
 * A backend at runtime: its servers, the balancer, and the queue of sessions waiting for a server slot.
 *
 * Server choice (haproxy: configuration.txt "backup", "allbackups", "maxconn", "timeout queue"):
 *   - active servers that are usable (READY, UP, weight > 0) are the pool; when none is usable, the first usable
 *     backup server is (all usable backups with `option allbackups`);
 *   - servers at their maxconn are skipped; when every server of the pool is full the session waits in the queue
 *     until a slot frees or `timeout queue` (default: `timeout connect`) expires;
 *   - when the pool is empty, the session fails at once (haproxy answers 503 in HTTP; in TCP the client is closed).
 */
import { createBalancer, type Balancer } from './balance/balancer.ts';
import type { Clock } from './clock.ts';
import type { ProxyConfig } from './config/types.ts';
import { LOG_ALERT, LOG_EMERG, LOG_NOTICE } from './log/syslog.ts';
import type { Logger } from './logger.ts';
import { sameAddress, Server } from './server.ts';

export interface Queued {
  readonly clientAddress: string;
  rebind(backend: Backend, srv: Server | null): void;
  dequeue(server: Server): void;
  queueTimeout(): void;
}

export class Backend {
  readonly name: string;
  readonly servers: Server[];
  readonly balancer: Balancer;
  private readonly queue: { item: Queued; timer: unknown }[] = [];
  // Counters, named after haproxy's CSV columns.
  stot = 0;
  smax = 0;
  qmax = 0;
  econ = 0;
  wretr = 0;
  wredis = 0;
  lbtot = 0;
  dqueue = 0; // sessions that timed out in the queue or found no server
  closedBytesIn = 0;
  closedBytesOut = 0;
  lastChange: number;
  stopped = false;
  /** Where state-change lines go besides the process log (the proxy's `log` targets); set by the LoadBalancer. */
  onLog: ((severity: number, msg: string) => void) | null = null;

  constructor(
    readonly config: ProxyConfig,
    readonly clock: Clock,
    private readonly log: Logger,
    previous?: Backend,
  ) {
    this.name = config.name;
    const now = clock.now();
    this.servers = config.servers.map((c) => new Server(c, now, previous?.servers.find((s) => s.name === c.name)));
    this.balancer = createBalancer(config.balance);
    this.lastChange = previous?.lastChange ?? now;
    if (previous) {
      this.stot = previous.stot;
      this.econ = previous.econ;
      this.wretr = previous.wretr;
      this.wredis = previous.wredis;
      this.lbtot = previous.lbtot;
      this.closedBytesIn = previous.closedBytesIn;
      this.closedBytesOut = previous.closedBytesOut;
    }
  }

  /**
   * Takes over the live sessions and the queue of the backend this one replaces on reload, so maxconn,
   * shutdown-sessions and the queue keep working for connections established before the reload.
   */
  adopt(old: Backend): void {
    for (const s of this.servers) {
      const prev = old.servers.find((o) => o.name === s.name);
      if (!prev || !sameAddress(prev, s)) continue;
      for (const x of prev.sessions) {
        x.rebind(this, s);
        s.sessions.add(x);
      }
      prev.sessions.clear();
    }
    for (const e of old.queue.splice(0)) {
      if (e.timer !== null) old.clock.clearTimeout(e.timer);
      e.item.rebind(this, null);
      const t = this.config.timeouts;
      this.enqueue(e.item, t.queue ?? t.connect);
    }
    this.drainQueue();
  }

  get queued(): number {
    return this.queue.length;
  }

  get cur(): number {
    let n = 0;
    for (const s of this.servers) n += s.cur;
    return n;
  }

  /** The servers new sessions may go to, capacity aside. */
  pool(): Server[] {
    const active = this.servers.filter((s) => !s.config.backup && s.usable);
    if (active.length) return active;
    const backups = this.servers.filter((s) => s.config.backup && s.usable);
    return this.config.options.allbackups ? backups : backups.slice(0, 1);
  }

  get up(): boolean {
    return this.pool().length > 0;
  }

  activeUp(): number {
    return this.servers.filter((s) => !s.config.backup && s.up && s.admin !== 'maint').length;
  }

  backupUp(): number {
    return this.servers.filter((s) => s.config.backup && s.up && s.admin !== 'maint').length;
  }

  /**
   * Picks a server for a session: a Server, 'queue' when every pool server is full, or null when there is none.
   * `avoid` is the server a redispatch moves away from; it is used again only if it is the sole choice.
   */
  choose(clientAddress: string, avoid: Server | null = null): Server | 'queue' | null {
    const pool = this.pool();
    if (pool.length === 0) return null;
    let free = pool.filter((s) => !s.full && s !== avoid);
    if (free.length === 0 && avoid && !avoid.full && pool.includes(avoid)) free = [avoid];
    if (free.length === 0) return 'queue';
    // Sessions already waiting go first: a newcomer may not overtake the queue.
    if (this.queue.length > 0) return 'queue';
    const s = this.balancer.pick(free, clientAddress);
    if (s) {
      s.lbtot++;
      this.lbtot++;
    }
    return s;
  }

  enqueue(item: Queued, timeoutMs: number | null): void {
    const entry = { item, timer: null as unknown };
    if (timeoutMs !== null) {
      entry.timer = this.clock.setTimeout(() => {
        const i = this.queue.indexOf(entry);
        if (i >= 0) this.queue.splice(i, 1);
        this.dqueue++;
        item.queueTimeout();
      }, timeoutMs);
    }
    this.queue.push(entry);
    if (this.queue.length > this.qmax) this.qmax = this.queue.length;
  }

  /** Removes a session that gave up while queued (its client went away). */
  unqueue(item: Queued): void {
    const i = this.queue.findIndex((e) => e.item === item);
    if (i < 0) return;
    const [entry] = this.queue.splice(i, 1);
    if (entry?.timer !== null) this.clock.clearTimeout(entry?.timer);
  }

  /** Hands free slots to queued sessions; called whenever a slot frees, a server comes up or a weight changes. */
  drainQueue(): void {
    while (this.queue.length > 0) {
      const pool = this.pool();
      const free = pool.filter((s) => !s.full);
      const head = this.queue[0];
      if (!head) return;
      if (pool.length === 0) {
        // No server at all any more: the queued sessions fail now rather than at their queue timeout.
        this.queue.shift();
        if (head.timer !== null) this.clock.clearTimeout(head.timer);
        this.dqueue++;
        head.item.queueTimeout();
        continue;
      }
      if (free.length === 0) return;
      const s = this.balancer.pick(free, head.item.clientAddress);
      if (!s) return;
      this.queue.shift();
      if (head.timer !== null) this.clock.clearTimeout(head.timer);
      s.lbtot++;
      this.lbtot++;
      head.item.dequeue(s);
    }
  }

  /** Fails every queued session (stop, reload of a removed backend). */
  flushQueue(): void {
    for (const e of this.queue.splice(0)) {
      if (e.timer !== null) this.clock.clearTimeout(e.timer);
      e.item.queueTimeout();
    }
  }

  bytesIn(): number {
    let n = this.closedBytesIn;
    for (const s of this.servers) for (const x of s.sessions) n += x.client.bytesRead;
    return n;
  }

  bytesOut(): number {
    let n = this.closedBytesOut;
    for (const s of this.servers) for (const x of s.sessions) n += x.client.bytesWritten;
    return n;
  }

  /** haproxy's "Server x is DOWN ... N active and M backup servers left" log line. */
  logTransition(server: Server, what: string, reason: string): void {
    const msg =
      `Server ${this.name}/${server.name} is ${what}${reason ? `, reason: ${reason}` : ''}. ` +
      `${this.activeUp()} active and ${this.backupUp()} backup servers left. ` +
      `${server.cur} sessions active, ${this.queue.length} remaining in queue.`;
    const down = what === 'DOWN' || what === 'going DOWN for maintenance';
    if (down) this.log.warn(msg);
    else this.log.notice(msg);
    this.onLog?.(down ? LOG_ALERT : LOG_NOTICE, msg); // haproxy: srv_set_stopped logs at LOG_ALERT
    if (!this.up && what.includes('DOWN')) {
      this.log.alert(`backend '${this.name}' has no server available!`);
      this.onLog?.(LOG_EMERG, `backend ${this.name} has no server available!`);
    }
  }
}
