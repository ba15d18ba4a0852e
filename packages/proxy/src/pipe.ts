/**
 * Joins two TCP sockets both ways.
 *
 * - Data: relay() each way (see relay.ts): reads into a reused buffer and stops reading one side while a write to
 *   the other side is in flight (backpressure).
 * - Half-close: both sockets are opened with allowHalfOpen, so a FIN from one side becomes end() (a FIN) on the
 *   other while the opposite direction keeps flowing; the sockets close once both directions have ended.
 * - Timeouts: haproxy's `timeout client` / `timeout server` are inactivity timeouts on each side; `timeout
 *   client-fin` / `server-fin` replace them once that side has half-closed. A zero/absent timeout means none.
 *   No timer per session (socket.setTimeout() costs a Timeout object and a bound function per socket, and re-arms
 *   the timer at every read): relay.ts stamps each socket at every read and completed write with a coarse clock, and
 *   one sweep for all pipes, every SWEEP_DIVISOR-th of the shortest timeout in use (SWEEP_MIN_MS..SWEEP_MAX_MS),
 *   advances that clock and ends the pipes whose side has been inactive for its timeout. A timeout fires up to two
 *   sweep periods late, never early (haproxy's timers are to the millisecond; with 60 s timeouts, up to 2 s late).
 * - Errors or a reset on either side destroy both.
 */
import type { Socket } from 'node:net';
import { coarseClock, kActive, relay } from './relay.ts';

export interface PipeTimeouts {
  client: number | null;
  server: number | null;
  clientFin: number | null;
  serverFin: number | null;
}

export type PipeEnd = 'closed' | 'client-timeout' | 'server-timeout' | 'client-error' | 'server-error';

/** Told once, when both sockets have closed. */
export interface PipeOwner {
  pipeEnded(how: PipeEnd): void;
}

// Memory: a session is idle most of its life, and each closure it held cost ~60 bytes plus its context, for every
// idle connection. The listeners below are shared by all pipes: they find their pipe through the socket.
const kPipe = Symbol('pipe');
type PipedSocket = Socket & { [kPipe]: Pipe };

const SWEEP_DIVISOR = 20;
const SWEEP_MIN_MS = 10;
const SWEEP_MAX_MS = 1000;

const timed = new Set<Pipe>();
let sweepTimer: NodeJS.Timeout | null = null;
let sweepMs = 0;

function sweep(): void {
  const now = Date.now();
  coarseClock.now = now;
  for (const p of timed) p.check(now);
  if (timed.size === 0 && sweepTimer !== null) {
    clearInterval(sweepTimer);
    sweepTimer = null;
    sweepMs = 0;
  }
}

function watch(p: Pipe, shortest: number): void {
  timed.add(p);
  const every = Math.min(SWEEP_MAX_MS, Math.max(SWEEP_MIN_MS, Math.floor(shortest / SWEEP_DIVISOR)));
  if (sweepTimer !== null && every >= sweepMs) return;
  if (sweepTimer !== null) clearInterval(sweepTimer);
  sweepMs = every;
  sweepTimer = setInterval(sweep, every);
  sweepTimer.unref();
}

type ActiveSocket = Socket & { [kActive]: number };

export class Pipe {
  private how: PipeEnd | null = null;
  private closed = 0;
  // The inactivity limit of each side now (ms, 0 = none): its timeout, or its -fin timeout once it has sent its FIN.
  clientLimit: number;
  serverLimit: number;

  constructor(
    readonly client: Socket,
    readonly server: Socket,
    readonly timeouts: PipeTimeouts,
    private readonly owner: PipeOwner,
  ) {
    this.clientLimit = timeouts.client ?? 0;
    this.serverLimit = timeouts.server ?? 0;
  }

  /** Tears both sides down; the first reason given is the one reported. */
  kill(why: PipeEnd): void {
    this.how ??= why;
    timed.delete(this);
    this.client.destroy();
    this.server.destroy();
  }

  /** One side closed. */
  sideClosed(): void {
    if (++this.closed === 2) {
      timed.delete(this);
      this.owner.pipeEnded(this.how ?? 'closed');
    }
  }

  /** A side sent its FIN: its -fin timeout, if any, applies from now. */
  finReceived(side: 'client' | 'server', fin: number | null): void {
    if (!fin) return;
    const sock = side === 'client' ? this.client : this.server;
    if (side === 'client') this.clientLimit = fin;
    else this.serverLimit = fin;
    const now = Date.now();
    coarseClock.now = now;
    (sock as ActiveSocket)[kActive] = now;
    watch(this, fin);
  }

  /**
   * Called by the sweep. A stamp is the coarse clock's time, which can be one sweep period older than the activity
   * itself: a side counts as inactive once its stamp is older than its limit plus that period, so a timeout is never
   * early and at most two periods late.
   */
  check(now: number): void {
    const c = this.client as ActiveSocket;
    const s = this.server as ActiveSocket;
    const slack = sweepMs;
    if (this.clientLimit > 0 && !c.destroyed && now - c[kActive] >= this.clientLimit + slack) this.kill('client-timeout');
    else if (this.serverLimit > 0 && !s.destroyed && now - s[kActive] >= this.serverLimit + slack) this.kill('server-timeout');
  }
}

function onClientError(this: PipedSocket): void {
  this[kPipe].kill('client-error');
}
function onServerError(this: PipedSocket): void {
  this[kPipe].kill('server-error');
}
// A side that closes before it has sent its FIN was reset or destroyed: take the other side down too. A side that
// closes after both directions ended is a normal close, and the other side closes by itself.
function onClientClose(this: PipedSocket): void {
  const p = this[kPipe];
  if (!this.readableEnded) p.kill('client-error');
  p.sideClosed();
}
function onServerClose(this: PipedSocket): void {
  const p = this[kPipe];
  if (!this.readableEnded) p.kill('server-error');
  p.sideClosed();
}
function onClientEnd(this: PipedSocket): void {
  const p = this[kPipe];
  p.finReceived('client', p.timeouts.clientFin);
}
function onServerEnd(this: PipedSocket): void {
  const p = this[kPipe];
  p.finReceived('server', p.timeouts.serverFin);
}

/** Call once per session, after removing any listeners of the connect phase from the client socket. */
export function pipeBoth(client: Socket, server: Socket, t: PipeTimeouts, owner: PipeOwner): Pipe {
  const pipe = new Pipe(client, server, t, owner);
  (client as PipedSocket)[kPipe] = pipe;
  (server as PipedSocket)[kPipe] = pipe;
  client.on('error', onClientError);
  server.on('error', onServerError);
  client.on('close', onClientClose);
  server.on('close', onServerClose);
  const now = Date.now();
  coarseClock.now = now;
  (client as ActiveSocket)[kActive] = now;
  (server as ActiveSocket)[kActive] = now;
  const shortest = Math.min(t.client || Infinity, t.server || Infinity);
  if (shortest !== Infinity) watch(pipe, shortest);
  if (t.clientFin) client.on('end', onClientEnd);
  if (t.serverFin) server.on('end', onServerEnd);
  relay(client, server);
  relay(server, client);
  return pipe;
}
