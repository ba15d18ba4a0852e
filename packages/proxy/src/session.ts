/**
 * One client connection through the proxy: choose a server (or wait in the backend queue), connect with retries and
 * redispatch, then pipe both ways until both sides close.
 *
 * haproxy: configuration.txt "retries": a failed connect is retried up to `retries` times; after a connection
 * error (not a timeout) a turn-around delay of min(timeout connect, 1s) is waited first. "option redispatch
 * <interval>": on every <interval>th retry (negative: on the |interval|th retry before the last; default -1 = the
 * last retry) the session may move to another server instead of insisting on the same one. A server that went
 * DOWN or into maintenance meanwhile is always redispatched away from when redispatch is enabled.
 */
import net, { type Socket } from 'node:net';
import type { Backend, Queued } from './backend.ts';
import type { Frontend } from './frontend.ts';
import { pipeBoth, type Pipe, type PipeEnd, type PipeOwner } from './pipe.ts';
import type { Counted, Server } from './server.ts';

/** haproxy termination states (configuration.txt §8.5): who ended the session, then in which phase. */
const PIPE_TERMINATION: Record<PipeEnd, string> = {
  closed: '--',
  'client-timeout': 'cD',
  'server-timeout': 'sD',
  'client-error': 'CD',
  'server-error': 'SD',
};

const RETRY_TURNAROUND_MAX_MS = 1000; // haproxy: retries wait min(timeout connect, 1s) after a connection error

type Phase = 'new' | 'queued' | 'connecting' | 'retry-wait' | 'established' | 'closed';

// Listeners shared by all sessions, which find their session through the socket (no closure per session). They stay
// registered for the socket's life and ignore what comes after their phase: removing an event's only listener
// deletes a key of the socket's `_events` object, and V8 turns an object with a deleted key into a slower dictionary
// of ~440 bytes, one per session (heap snapshot of 2,000 idle sessions).
const kSession = Symbol('session');
type SessionSocket = Socket & { [kSession]: Session };
/** Until the pipe takes over, an error or close on the client ends the session wherever it waits. */
function onClientGone(this: SessionSocket): void {
  this[kSession].clientGone();
}
function onServerConnect(this: SessionSocket): void {
  this[kSession].serverConnected(this);
}
function onServerConnectError(this: SessionSocket): void {
  this[kSession].serverConnectError(this);
}

export class Session implements Counted, Queued, PipeOwner {
  server: Socket | null = null;
  srv: Server | null = null;
  phase: Phase = 'new';
  readonly clientAddress: string;
  private retriesLeft: number;
  private retryCount = 0;
  private timer: NodeJS.Timeout | null = null;
  private pipe: Pipe | null = null;
  private finished = false;
  // For the session log line.
  readonly acceptedAt = Date.now();
  private queueStart = 0;
  private queueMs = 0;
  private connectStart = 0;
  private connectMs = -1;
  private serverName = '<NOSRV>';
  private termination = '--';

  constructor(
    readonly client: Socket,
    public frontend: Frontend,
    public backend: Backend,
  ) {
    this.clientAddress = client.remoteAddress ?? '';
    this.retriesLeft = backend.config.retries;
    (client as SessionSocket)[kSession] = this;
    client.on('error', onClientGone);
    client.on('close', onClientGone);
  }

  /** The client went away before the pipe was set up. */
  clientGone(): void {
    if (this.phase === 'established' || this.phase === 'closed') return; // the pipe's listeners see it
    this.close(this.phase === 'queued' ? 'CQ' : 'CC');
  }

  serverConnected(sock: Socket): void {
    this.established(sock);
  }

  serverConnectError(sock: Socket): void {
    this.connectFailed(sock, false);
  }

  start(): void {
    this.assign(null);
  }

  /** On reload, the session moves to the new objects of the same backend and server. */
  rebind(backend: Backend, srv: Server | null): void {
    this.backend = backend;
    if (srv) this.srv = srv;
  }

  private assign(avoid: Server | null): void {
    if (this.phase === 'closed') return;
    const choice = this.backend.choose(this.clientAddress, avoid);
    if (choice === null) return this.close('SC');
    if (choice === 'queue') {
      this.phase = 'queued';
      this.queueStart = Date.now();
      const t = this.backend.config.timeouts;
      this.backend.enqueue(this, t.queue ?? t.connect); // haproxy: timeout queue defaults to timeout connect
      this.backend.drainQueue();
      return;
    }
    if ('queueOn' in choice) return this.waitFor(choice.queueOn);
    this.connect(choice);
  }

  /** Waits for one server in particular (haproxy: in that server's queue), as far as its maxqueue allows. */
  private waitFor(srv: Server): void {
    const t = this.backend.config.timeouts;
    if (this.backend.enqueue(this, t.queue ?? t.connect, srv)) {
      this.phase = 'queued';
      this.queueStart = Date.now();
      this.backend.drainQueue();
      return;
    }
    // haproxy: srv_redispatch_connect, SRV_STATUS_FULL: the server's queue is full; redispatch if allowed, else fail.
    if (this.backend.config.options.redispatch) {
      srv.wredis++;
      this.backend.wredis++;
      return this.assign(srv);
    }
    srv.econ++;
    this.backend.econ++;
    this.serverName = srv.name;
    this.close('SQ');
  }

  /** Called by the backend queue when a slot is free. */
  dequeue(server: Server): void {
    if (this.phase !== 'queued') return;
    this.queueMs += Date.now() - this.queueStart;
    this.connect(server);
  }

  queueTimeout(): void {
    if (this.phase === 'queued') {
      this.queueMs += Date.now() - this.queueStart;
      this.close('sQ');
    }
  }

  private connect(srv: Server): void {
    this.phase = 'connecting';
    this.srv = srv;
    this.serverName = srv.name;
    this.connectStart = Date.now();
    srv.sessions.add(this);
    if (srv.sessions.size > srv.smax) srv.smax = srv.sessions.size;
    srv.connects++;
    this.backend.connects++;
    const port = srv.config.port ?? this.client.localPort ?? 0;
    const sock = net.connect({ host: srv.config.host, port, allowHalfOpen: true, noDelay: true });
    this.server = sock;
    const connectTimeout = this.backend.config.timeouts.connect;
    if (connectTimeout !== null) this.timer = setTimeout(() => this.connectFailed(sock, true), connectTimeout);
    (sock as SessionSocket)[kSession] = this;
    sock.on('connect', onServerConnect);
    sock.on('error', onServerConnectError);
  }

  private connectFailed(sock: Socket, timedOut: boolean): void {
    if (this.phase !== 'connecting' || this.server !== sock) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    sock.removeAllListeners();
    sock.on('error', () => {});
    sock.destroy();
    this.server = null;
    const failed = this.srv as Server;
    failed.econ++;
    this.backend.econ++;
    this.releaseServer();
    if (this.retriesLeft <= 0) return this.close('SC');
    this.retriesLeft--;
    this.retryCount++;
    failed.wretr++;
    this.backend.wretr++;
    const redispatch = this.shouldRedispatch(failed);
    const retry = (): void => {
      this.timer = null;
      if (this.phase !== 'retry-wait') return;
      if (redispatch) {
        failed.wredis++;
        this.backend.wredis++;
        return this.assign(failed);
      }
      if (failed.full) return this.waitFor(failed); // haproxy: a retry keeps its server, and queues for it
      this.connect(failed);
    };
    this.phase = 'retry-wait';
    const connectTimeout = this.backend.config.timeouts.connect ?? RETRY_TURNAROUND_MAX_MS;
    const delay = timedOut ? 0 : Math.min(connectTimeout, RETRY_TURNAROUND_MAX_MS);
    this.timer = setTimeout(retry, delay);
  }

  private shouldRedispatch(failed: Server): boolean {
    const o = this.backend.config.options;
    if (!o.redispatch) return false;
    if (!failed.usable) return true;
    const retries = this.backend.config.retries;
    if (o.redispatchInterval > 0) return this.retryCount % o.redispatchInterval === 0;
    return retries - this.retryCount === -o.redispatchInterval - 1;
  }

  private established(sock: Socket): void {
    if (this.phase !== 'connecting' || this.server !== sock) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // onServerConnectError stays: connectFailed() ignores a socket that is no longer connecting.
    this.phase = 'established';
    this.connectMs = Date.now() - this.connectStart;
    this.backend.sessionEstablished(this.srv as Server, Date.now());
    if (this.frontend.config.options.clitcpka) this.client.setKeepAlive(true);
    if (this.backend.config.options.srvtcpka) sock.setKeepAlive(true);
    const ft = this.frontend.config.timeouts;
    const bt = this.backend.config.timeouts;
    this.pipe = pipeBoth(
      this.client,
      sock,
      // haproxy: in TCP mode `timeout tunnel` supersedes the client and server timeouts once connected.
      bt.tunnel !== null
        ? { client: bt.tunnel, server: bt.tunnel, clientFin: ft.clientFin, serverFin: bt.serverFin }
        : { client: ft.client, server: bt.server, clientFin: ft.clientFin, serverFin: bt.serverFin },
      this,
    );
  }

  /** Both sides of the established session have closed. */
  pipeEnded(how: PipeEnd): void {
    if (this.termination === '--') this.termination = PIPE_TERMINATION[how];
    this.finish();
  }

  /** Tears the session down from outside (shutdown-sessions, stop). */
  shutdown(): void {
    this.termination = 'KD'; // haproxy: K = killed (admin, shutdown-sessions, stop)
    if (this.pipe) this.pipe.kill('server-error');
    else this.close('KD');
  }

  private close(termination: string): void {
    if (this.phase === 'closed') return;
    if (this.termination === '--') this.termination = termination;
    if (this.phase === 'queued') this.backend.unqueue(this);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.client.off('error', onClientGone);
    this.client.off('close', onClientGone);
    this.client.on('error', () => {});
    this.client.destroy();
    if (this.server) {
      this.server.on('error', () => {});
      this.server.destroy();
    }
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.phase = 'closed';
    const bytesIn = this.client.bytesRead;
    const bytesOut = this.client.bytesWritten;
    if (this.srv) {
      this.srv.closedBytesIn += bytesIn;
      this.srv.closedBytesOut += bytesOut;
      this.backend.closedBytesIn += bytesIn;
      this.backend.closedBytesOut += bytesOut;
    }
    const srvconn = this.srv?.cur ?? 0;
    const totalMs = Date.now() - this.acceptedAt;
    if (this.srv) {
      this.srv.times.add(this.queueMs, this.connectMs, totalMs, this.termination);
      this.backend.times.add(this.queueMs, this.connectMs, totalMs, this.termination);
    }
    this.releaseServer();
    const log = this.frontend.sessionLog;
    if (log?.enabled) {
      log.ended({
        clientAddress: this.clientAddress,
        clientPort: this.client.remotePort ?? 0,
        localAddress: this.client.localAddress ?? '',
        localPort: this.client.localPort ?? 0,
        frontend: this.frontend.name,
        backend: this.backend.name,
        server: this.serverName,
        acceptedAt: this.acceptedAt,
        queueMs: this.queueMs,
        connectMs: this.connectMs,
        totalMs,
        bytesIn,
        bytesOut,
        termination: this.termination,
        actconn: this.frontend.globalConnections,
        feconn: this.frontend.cur,
        beconn: this.backend.cur + (srvconn > 0 ? 1 : 0),
        srvconn,
        retries: this.retryCount,
        srvQueue: 0,
        backendQueue: this.backend.queued,
      });
    }
    this.frontend.release(this, bytesIn, bytesOut);
  }

  private releaseServer(): void {
    const srv = this.srv;
    if (!srv) return;
    this.srv = null;
    srv.sessions.delete(this);
    this.backend.drainQueue();
  }
}
