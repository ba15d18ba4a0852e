/**
 * A backend at runtime: its servers, the balancer, and the queue of sessions waiting for a server slot.
 *
 * Server choice (haproxy: configuration.txt "backup", "allbackups", "maxconn", "timeout queue"):
 *   - active servers that are usable (READY, UP, weight > 0) are the pool; when none is usable, the first usable
 *     backup server is (all usable backups with `option allbackups`);
 *   - servers at their maxconn are skipped; when every server of the pool is full the session waits in the queue
 *     until a slot frees or `timeout queue` (default: `timeout connect`) expires;
 *   - when the pool is empty, the session fails at once (haproxy answers 503 in HTTP; in TCP the client is closed).
 *
 * Server queues (haproxy: "maxqueue", backend.c assign_server_and_queue): a session that must go to one server waits
 * for that server, not for any: with `balance source` the hash picks among all usable servers, full or not, and a
 * retry without redispatch sticks to its server. Such a session waits in the same FIFO as the others, bound to its
 * server; it counts in the server's queue (qcur), which `maxqueue` limits. Beyond it the session is redispatched with
 * `option redispatch`, or fails (termination SQ). Round robin and the other algorithms never pick a full server, so
 * their sessions wait unbound, and `maxqueue` does not apply to them, as in haproxy.
 */
import { createBalancer, type Balancer } from './balance/balancer.ts';
import type { Clock } from './clock.ts';
import type { ProxyConfig } from './config/types.ts';
import { LOG_ALERT, LOG_EMERG, LOG_NOTICE } from './log/syslog.ts';
import type { Logger } from './logger.ts';
import { sameAddress, Server } from './server.ts';
import { RateCounter } from './stats/rate-counter.ts';
import { SessionTimes } from './stats/session-times.ts';

export interface Queued {
  readonly clientAddress: string;
  rebind(backend: Backend, srv: Server | null): void;
  dequeue(server: Server): void;
  queueTimeout(): void;
}

interface QueueEntry {
  item: Queued;
  timer: unknown;
  /** The server this session waits for; null: any server of the pool. */
  srv: Server | null;
}

/** What choose() decided: a server with a free slot, wait (for any server, or for `queueOn`), or no server at all. */
export type Choice = Server | 'queue' | { queueOn: Server } | null;

export class Backend {
  readonly name: string;
  readonly servers: Server[];
  readonly balancer: Balancer;
  private readonly queue: QueueEntry[] = [];
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
  /** When the backend last went DOWN or UP (its own state: no usable server, or some). */
  lastChange: number;
  chkdown = 0; // the backend's own transitions to DOWN (haproxy: down_trans, set_backend_down)
  downtimeMs = 0;
  private wasUp: boolean;
  readonly rate = new RateCounter(); // sessions per second
  lastSessAt: number | null = null;
  connects = 0;
  readonly times = new SessionTimes();
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
    this.wasUp = this.up;
    if (previous) {
      this.chkdown = previous.chkdown;
      this.downtimeMs = previous.downtimeMs;
      this.rate.carry(previous.rate);
      this.lastSessAt = previous.lastSessAt;
      this.smax = previous.smax;
      this.connects = previous.connects;
      this.times.carry(previous.times);
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
    // Queued sessions move unbound: a server of the old config is not one of this backend's servers.
    for (const e of old.queue.splice(0)) {
      if (e.timer !== null) old.clock.clearTimeout(e.timer);
      if (e.srv) e.srv.queued--;
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

  /**
   * Follows the backend's own state after a server changed: going DOWN counts in `chkdown` and starts the
   * downtime; coming back UP ends it (haproxy: set_backend_down, srv_update_status).
   */
  noteServerChange(now: number): void {
    const up = this.up;
    if (up === this.wasUp) return;
    this.wasUp = up;
    if (up) this.downtimeMs += now - this.lastChange;
    else this.chkdown++;
    this.lastChange = now;
  }

  /** Seconds the backend has been DOWN in all (haproxy: be_downtime). */
  downtime(now: number): number {
    return this.downtimeMs + (this.wasUp ? 0 : now - this.lastChange);
  }

  /** A session got a server: the session counters of server and backend (haproxy: srv_inc_sess_ctr). */
  sessionEstablished(srv: Server, now: number): void {
    srv.stot++;
    srv.rate.add(now);
    srv.lastSessAt = now;
    this.stot++;
    this.rate.add(now);
    this.lastSessAt = now;
    const cur = this.cur;
    if (cur > this.smax) this.smax = cur;
  }

  activeUp(): number {
    return this.servers.filter((s) => !s.config.backup && s.up && s.admin !== 'maint').length;
  }

  backupUp(): number {
    return this.servers.filter((s) => s.config.backup && s.up && s.admin !== 'maint').length;
  }

  /**
   * Picks a server for a session: a Server, 'queue' when every pool server is full, `{ queueOn }` when the client's
   * server under `balance source` is full (or has sessions waiting for it), or null when there is none.
   * `avoid` is the server a redispatch moves away from; it is used again only if it is the sole choice.
   */
  choose(clientAddress: string, avoid: Server | null = null): Choice {
    const pool = this.pool();
    if (pool.length === 0) return null;
    if (this.config.balance === 'source') {
      // haproxy: hash-based algorithms map the client to a server whether it is full or not.
      const s = this.balancer.pick(pool, clientAddress);
      if (s && s !== avoid) {
        s.lbtot++;
        this.lbtot++;
        return s.full || this.queue.some((e) => e.srv === s) ? { queueOn: s } : s;
      }
      // Redispatched away from the hashed server: any other server, as below.
    }
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

  /**
   * Queues a session, for any server or (`srv`) for that one. Returns false, queueing nothing, when `srv`'s queue is
   * at its maxqueue (haproxy: SRV_STATUS_FULL).
   */
  enqueue(item: Queued, timeoutMs: number | null, srv: Server | null = null): boolean {
    if (srv && srv.config.maxqueue > 0 && srv.queued >= srv.config.maxqueue) return false;
    const entry: QueueEntry = { item, timer: null, srv };
    if (timeoutMs !== null) {
      entry.timer = this.clock.setTimeout(() => {
        if (this.remove(entry)) this.dqueue++;
        item.queueTimeout();
      }, timeoutMs);
    }
    this.queue.push(entry);
    if (this.queue.length > this.qmax) this.qmax = this.queue.length;
    if (srv && ++srv.queued > srv.qmax) srv.qmax = srv.queued;
    return true;
  }

  private remove(entry: QueueEntry): boolean {
    const i = this.queue.indexOf(entry);
    if (i < 0) return false;
    this.queue.splice(i, 1);
    if (entry.timer !== null) this.clock.clearTimeout(entry.timer);
    if (entry.srv) entry.srv.queued--;
    return true;
  }

  /** Removes a session that gave up while queued (its client went away). */
  unqueue(item: Queued): void {
    const entry = this.queue.find((e) => e.item === item);
    if (entry) this.remove(entry);
  }

  /**
   * Hands free slots to queued sessions, oldest first: a session bound to a server takes a slot of that server only;
   * an unbound one takes any free server of the pool. Called whenever a slot frees, a server comes up or a weight
   * changes.
   */
  drainQueue(): void {
    while (this.queue.length > 0) {
      const pool = this.pool();
      if (pool.length === 0) {
        // No server at all any more: the queued sessions fail now rather than at their queue timeout.
        const head = this.queue[0] as QueueEntry;
        this.remove(head);
        this.dqueue++;
        head.item.queueTimeout();
        continue;
      }
      const free = pool.filter((s) => !s.full);
      const redispatch = this.config.options.redispatch;
      let next: QueueEntry | null = null;
      for (const e of this.queue) {
        // haproxy: pendconn_redistribute: with option redispatch, the queue of a server that is no longer usable
        // goes back to the backend's.
        if (e.srv && !e.srv.usable && redispatch) {
          e.srv.queued--;
          e.srv = null;
        }
        if (e.srv ? e.srv.usable && !e.srv.full : free.length > 0) {
          next = e;
          break;
        }
      }
      if (!next) return;
      const s = next.srv ?? this.balancer.pick(free, next.item.clientAddress);
      if (!s) return;
      this.remove(next);
      if (!next.srv) {
        s.lbtot++;
        this.lbtot++;
      }
      next.item.dequeue(s);
    }
  }

  /** Fails every queued session (stop, reload of a removed backend). */
  flushQueue(): void {
    for (const e of this.queue.splice(0)) {
      if (e.timer !== null) this.clock.clearTimeout(e.timer);
      if (e.srv) e.srv.queued--;
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
