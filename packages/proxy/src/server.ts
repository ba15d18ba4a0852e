/**
 * One backend server at runtime: its configuration, administrative state, health, live sessions and counters.
 * Plain state with no I/O; the backend and the health checker drive it.
 */
import type { Socket } from 'node:net';
import type { Backend } from './backend.ts';
import type { ServerConfig } from './config/types.ts';
import type { CheckResult } from './health/check-result.ts';
import { HealthCounter } from './health/health-counter.ts';
import { RateCounter } from './stats/rate-counter.ts';
import { SessionTimes } from './stats/session-times.ts';

/** haproxy: server admin states (READY, DRAIN = no new connections but weight kept, MAINT = disabled). */
export type AdminState = 'ready' | 'drain' | 'maint';

export interface Counted {
  readonly client: Socket;
  readonly server: Socket | null;
  shutdown(reason: string): void;
  rebind(backend: Backend, srv: Server | null): void;
}

export function sameAddress(a: Server, b: Server): boolean {
  return a.config.host === b.config.host && a.config.port === b.config.port;
}

export class Server {
  readonly config: ServerConfig;
  readonly name: string;
  weight: number;
  admin: AdminState;
  readonly health: HealthCounter;
  lastCheck: CheckResult | null = null;
  /** Sessions holding a connection slot on this server (connecting or established). */
  readonly sessions = new Set<Counted>();
  // Counters, named after haproxy's CSV columns.
  stot = 0; // sessions total
  smax = 0;
  queued = 0; // sessions waiting for this server in the backend's queue (qcur)
  qmax = 0;
  lbtot = 0; // times selected by the balancer
  econ = 0; // connection errors
  eresp = 0;
  wretr = 0; // retries
  wredis = 0; // redispatches
  chkfail = 0; // failed checks (haproxy: only those that found the server not already DOWN)
  chkdown = 0; // UP->DOWN transitions
  readonly rate = new RateCounter(); // sessions per second
  lastSessAt: number | null = null; // when the last session was established (the `lastsess` column)
  connects = 0; // connection attempts (the `connect` column)
  readonly times = new SessionTimes();
  closedBytesIn = 0; // from clients, of closed sessions
  closedBytesOut = 0;
  lastChange: number;
  downSince: number | null = null;
  downtimeMs = 0;

  constructor(config: ServerConfig, now: number, carried?: Server) {
    this.config = config;
    this.name = config.name;
    this.weight = config.weight;
    this.admin = config.disabled ? 'maint' : 'ready';
    this.health = new HealthCounter(config.rise, config.fall);
    this.lastChange = now;
    if (carried) this.carryFrom(carried);
  }

  /** On reload, a server with the same name keeps its runtime state (haproxy: server-state-file, done in memory). */
  private carryFrom(old: Server): void {
    if (!sameAddress(old, this)) return;
    this.health.health = Math.min(old.health.health, this.config.rise + this.config.fall - 1);
    if (old.health.up !== this.health.up) this.health.force(old.health.up);
    if (old.admin !== 'ready' && !this.config.disabled) this.admin = old.admin;
    if (old.weight !== old.config.weight) this.weight = old.weight;
    this.lastCheck = old.lastCheck;
    this.stot = old.stot;
    this.smax = old.smax;
    this.lbtot = old.lbtot;
    this.econ = old.econ;
    this.eresp = old.eresp;
    this.wretr = old.wretr;
    this.wredis = old.wredis;
    this.chkfail = old.chkfail;
    this.chkdown = old.chkdown;
    this.rate.carry(old.rate);
    this.lastSessAt = old.lastSessAt;
    this.connects = old.connects;
    this.times.carry(old.times);
    this.closedBytesIn = old.closedBytesIn;
    this.closedBytesOut = old.closedBytesOut;
    this.lastChange = old.lastChange;
    this.downSince = old.downSince;
    this.downtimeMs = old.downtimeMs;
  }

  get checked(): boolean {
    return this.config.check;
  }

  /** Operationally up: unchecked servers are always up. */
  get up(): boolean {
    return !this.config.check || this.health.up;
  }

  get cur(): number {
    return this.sessions.size;
  }

  get full(): boolean {
    return this.config.maxconn > 0 && this.sessions.size >= this.config.maxconn;
  }

  /** May take new connections (capacity aside). */
  get usable(): boolean {
    return this.admin === 'ready' && this.up && this.weight > 0;
  }

  noteStateChange(now: number): void {
    const down = !this.up || this.admin === 'maint';
    if (down && this.downSince === null) this.downSince = now;
    if (!down && this.downSince !== null) {
      this.downtimeMs += now - this.downSince;
      this.downSince = null;
    }
    this.lastChange = now;
  }

  /** The status column of the stats page. */
  status(): string {
    if (this.admin === 'maint') return 'MAINT';
    if (this.admin === 'drain') return this.up ? 'DRAIN' : this.health.describe();
    if (!this.config.check) return 'no check';
    return this.health.describe();
  }

  bytesIn(): number {
    let n = this.closedBytesIn;
    for (const s of this.sessions) n += s.client.bytesRead;
    return n;
  }

  bytesOut(): number {
    let n = this.closedBytesOut;
    for (const s of this.sessions) n += s.client.bytesWritten;
    return n;
  }
}
