/**
 * A frontend (or the front half of a `listen` section): takes accepted client sockets, enforces maxconn, and hands
 * each connection to its backend as a Session. A stats frontend (`mode http` with `stats` enabled) hands its
 * connections to the stats HTTP handler instead.
 *
 * haproxy: configuration.txt "maxconn" (frontend): beyond maxconn haproxy stops accepting and connections wait in
 * the kernel backlog. Node cannot pause accept(), so connections beyond the limit are accepted and held, unread
 * past the socket buffer, in a FIFO until a session ends; the effect for the client is the same wait.
 */
import type { Socket } from 'node:net';
import type { Backend } from './backend.ts';
import type { ProxyConfig } from './config/types.ts';
import type { SessionLog } from './log/session-log.ts';
import type { MemoryTrimmer } from './memory-trim.ts';
import { Session } from './session.ts';
import { RateCounter } from './stats/rate-counter.ts';

export class ConnectionLimit {
  cur = 0;
  readonly frontends: Frontend[] = [];
  constructor(
    public max: number,
    private readonly trimmer: MemoryTrimmer | null = null,
  ) {}

  /** A slot freed anywhere: let waiting frontends admit. */
  released(): void {
    for (const f of this.frontends) if (this.cur < this.max) f.admit();
    this.trimmer?.sessions(this.cur);
  }

  /** A session began. */
  took(): void {
    this.cur++;
    this.trimmer?.sessions(this.cur);
  }
}

export class Frontend {
  readonly name: string;
  readonly maxconn: number;
  readonly sessions = new Set<Session>();
  private readonly waiting: Socket[] = [];
  // Counters, named after haproxy's CSV columns.
  stot = 0;
  smax = 0;
  closedBytesIn = 0;
  closedBytesOut = 0;
  dropped = 0; // closed for lack of a backend
  readonly rate = new RateCounter(); // sessions per second
  readonly connRate = new RateCounter(); // connections accepted per second
  connTot = 0;
  // HTTP requests, for a stats frontend (haproxy counts the stats page's requests like any other).
  readonly reqRate = new RateCounter();
  reqTot = 0;
  intercepted = 0; // requests answered by the stats page itself
  readonly hrsp = [0, 0, 0, 0, 0, 0]; // responses 1xx, 2xx, 3xx, 4xx, 5xx, other
  private httpOpen = 0; // open connections of a stats frontend
  stopped = false;

  constructor(
    readonly config: ProxyConfig,
    readonly backend: Backend | null,
    private readonly limit: ConnectionLimit,
    defaultMaxconn: number,
    private readonly httpHandler: ((socket: Socket) => void) | null,
    previous?: Frontend,
    readonly sessionLog: SessionLog | null = null,
  ) {
    this.name = config.name;
    this.maxconn = config.maxconn ?? defaultMaxconn;
    if (previous) {
      this.stot = previous.stot;
      this.smax = previous.smax;
      this.closedBytesIn = previous.closedBytesIn;
      this.closedBytesOut = previous.closedBytesOut;
      this.connTot = previous.connTot;
      this.reqTot = previous.reqTot;
      this.intercepted = previous.intercepted;
      previous.hrsp.forEach((n, i) => (this.hrsp[i] = n));
      this.rate.carry(previous.rate);
      this.connRate.carry(previous.connRate);
      this.reqRate.carry(previous.reqRate);
    }
  }

  /** Takes over the sessions and waiting connections of the frontend this one replaces on reload. */
  adopt(old: Frontend): void {
    for (const s of old.sessions) {
      s.frontend = this;
      this.sessions.add(s);
    }
    old.sessions.clear();
    for (const socket of old.waiting.splice(0)) {
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      if (!socket.destroyed) this.wait(socket);
    }
    this.admit();
  }

  get cur(): number {
    return this.sessions.size + this.httpOpen;
  }

  get globalConnections(): number {
    return this.limit.cur;
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  handle(socket: Socket): void {
    const now = Date.now();
    this.connTot++;
    this.connRate.add(now);
    if (this.httpHandler) return this.handleHttp(socket, now);
    if (this.stopped) {
      socket.destroy();
      return;
    }
    if (this.waiting.length > 0 || this.sessions.size >= this.maxconn || this.limit.cur >= this.limit.max) {
      this.wait(socket);
      return;
    }
    this.begin(socket);
  }

  /** A connection to the stats page: counted as a session of this frontend, as haproxy does. */
  private handleHttp(socket: Socket, now: number): void {
    this.stot++;
    this.rate.add(now);
    this.httpOpen++;
    if (this.cur > this.smax) this.smax = this.cur;
    socket.once('close', () => {
      this.httpOpen--;
      this.closedBytesIn += socket.bytesRead;
      this.closedBytesOut += socket.bytesWritten;
    });
    (this.httpHandler as (socket: Socket) => void)(socket);
  }

  /** One HTTP request answered by the stats page, with its status code. */
  countRequest(status: number): void {
    this.reqTot++;
    this.intercepted++;
    this.reqRate.add(Date.now());
    const i = status >= 100 && status < 600 ? Math.floor(status / 100) - 1 : 5;
    this.hrsp[i] = (this.hrsp[i] as number) + 1;
  }

  private wait(socket: Socket): void {
    this.waiting.push(socket);
    const gone = (): void => {
      const i = this.waiting.indexOf(socket);
      if (i >= 0) this.waiting.splice(i, 1);
    };
    socket.once('close', gone);
    socket.on('error', gone);
  }

  admit(): void {
    while (this.waiting.length > 0 && this.sessions.size < this.maxconn && this.limit.cur < this.limit.max && !this.stopped) {
      const socket = this.waiting.shift() as Socket;
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      if (socket.destroyed) continue;
      this.begin(socket);
    }
  }

  private begin(socket: Socket): void {
    this.stot++;
    this.rate.add(Date.now());
    if (!this.backend) {
      this.dropped++;
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    if (this.sessionLog?.enabled) {
      this.sessionLog.accepted(socket.remoteAddress ?? '', socket.remotePort ?? 0, socket.localAddress ?? '', socket.localPort ?? 0, this.name);
    }
    const session = new Session(socket, this, this.backend);
    this.sessions.add(session);
    this.limit.took();
    if (this.sessions.size > this.smax) this.smax = this.sessions.size;
    session.start();
  }

  release(session: Session, bytesIn: number, bytesOut: number): void {
    if (!this.sessions.delete(session)) return;
    this.limit.cur--;
    this.closedBytesIn += bytesIn;
    this.closedBytesOut += bytesOut;
    this.admit();
    this.limit.released();
  }

  /** Stops admitting; waiting connections are closed. Established sessions continue. */
  stop(): void {
    this.stopped = true;
    for (const s of this.waiting.splice(0)) s.destroy();
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
