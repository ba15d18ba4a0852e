/**
 * Joins two TCP sockets both ways.
 *
 * - Data: relay() each way (see relay.ts): reads into a reused buffer and stops reading one side while a write to
 *   the other side is in flight (backpressure).
 * - Half-close: both sockets are opened with allowHalfOpen, so a FIN from one side becomes end() (a FIN) on the
 *   other while the opposite direction keeps flowing; the sockets close once both directions have ended.
 * - Timeouts: haproxy's `timeout client` / `timeout server` are inactivity timeouts on each side; `timeout
 *   client-fin` / `server-fin` replace them once that side has half-closed. A zero/absent timeout means none.
 * - Errors or a reset on either side destroy both.
 */
import type { Socket } from 'node:net';
import { relay } from './relay.ts';

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

export class Pipe {
  private how: PipeEnd | null = null;
  private closed = 0;

  constructor(
    readonly client: Socket,
    readonly server: Socket,
    readonly timeouts: PipeTimeouts,
    private readonly owner: PipeOwner,
  ) {}

  /** Tears both sides down; the first reason given is the one reported. */
  kill(why: PipeEnd): void {
    this.how ??= why;
    this.client.destroy();
    this.server.destroy();
  }

  /** One side closed. */
  sideClosed(): void {
    if (++this.closed === 2) this.owner.pipeEnded(this.how ?? 'closed');
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
function onClientTimeout(this: PipedSocket): void {
  this[kPipe].kill('client-timeout');
}
function onServerTimeout(this: PipedSocket): void {
  this[kPipe].kill('server-timeout');
}
function onClientEnd(this: PipedSocket): void {
  const t = this[kPipe].timeouts;
  if (t.clientFin) {
    this.setTimeout(t.clientFin);
    if (!t.client) this.on('timeout', onClientTimeout);
  }
}
function onServerEnd(this: PipedSocket): void {
  const t = this[kPipe].timeouts;
  if (t.serverFin) {
    this.setTimeout(t.serverFin);
    if (!t.server) this.on('timeout', onServerTimeout);
  }
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
  if (t.client) {
    client.setTimeout(t.client);
    client.on('timeout', onClientTimeout);
  }
  if (t.server) {
    server.setTimeout(t.server);
    server.on('timeout', onServerTimeout);
  }
  if (t.clientFin) client.on('end', onClientEnd);
  if (t.serverFin) server.on('end', onServerEnd);
  relay(client, server);
  relay(server, client);
  return pipe;
}
