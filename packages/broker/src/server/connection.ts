// One AMQP connection (AMQP 0-9-1 §4.2: protocol header, connection class handshake, heartbeats, channels).
//
// Handshake, server side:
//   client: "AMQP" 0 0 9 1            -> server: connection.start (server properties, mechanisms PLAIN AMQPLAIN)
//   client: connection.start-ok       -> server: connection.tune (channel_max, frame_max, heartbeat)
//   client: connection.tune-ok        (negotiated values; heartbeats start)
//   client: connection.open (vhost)   -> server: connection.open-ok
// A hard error at any point: connection.close(code) and wait for close-ok (or a timeout), then the socket closes.
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { FrameReader, type FrameSink } from '../amqp/frame-reader.ts';
import { Reader, type FieldTable } from '../amqp/reader.ts';
import { Writer, FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT } from '../amqp/writer.ts';
import * as M from '../amqp/methods.ts';
import { AmqpError, ChannelError, ConnectionError, FrameError, REPLY, REPLY_TEXT, notAllowed, unexpectedFrame, channelError, commandInvalid } from '../amqp/errors.ts';
import type { Broker } from './broker.ts';
import { PRODUCT, VERSION, WARREN_VERSION } from './version.ts';
import type { VHost } from './vhost.ts';
import { Channel } from './channel.ts';
import { checkPassword, type CompiledPermission, type User } from '../auth/users.ts';

const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);
/** AMQP 0-9-1 §4.2.3: frame_max may not go below this */
const FRAME_MIN_SIZE = 4096;
/** A peer that does not answer our connection.close is cut off after this long. */
const CLOSE_OK_TIMEOUT_MS = 3000;
/** The handshake must finish within this (RabbitMQ handshake_timeout 10 s). */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Outgoing bytes queued in the socket above which consumers on this connection stop receiving deliveries. */
const SOCKET_HIGH_WATER_BYTES = 2 * 1024 * 1024;
/**
 * A flush at least this big hands the writer's buffer itself to the socket and recycles it when written (see
 * Writer.handOut); a smaller one is copied out, which below Node's pool limit (Buffer.poolSize / 2, 4 KB) is a cheap
 * slice of a shared pool rather than an allocation of its own. So an idle connection keeps one buffer, not two.
 */
const HAND_OUT_MIN_BYTES = Buffer.poolSize >>> 1;

const enum State {
  Header,
  StartOk,
  TuneOk,
  Open,
  Running,
  Closing,
  Closed,
}

export class Connection implements FrameSink {
  readonly broker: Broker;
  readonly socket: Socket;
  readonly id: number;
  readonly reader: FrameReader;
  readonly writer = new Writer();
  readonly r = new Reader(Buffer.alloc(0));
  readonly channels = new Map<number, Channel>();
  private state = State.Header;
  private headerBuf: Buffer | null = null;
  user: User | null = null;
  vhost: VHost | null = null;
  perm: CompiledPermission | null = null;
  clientProperties: FieldTable = {};
  capabilities: FieldTable = {};
  frameMax: number;
  channelMax: number;
  heartbeat = 0;
  readonly connectedAt = Date.now();
  readonly peer: string;
  readonly peerHost: string;
  readonly peerPort: number;
  private flushScheduled = false;
  private readonly flushBound: () => void;
  private readonly writtenBound: () => void;
  private lastRead = Date.now();
  private lastWrite = Date.now();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private handshakeTimer: NodeJS.Timeout | null;
  congested = false;
  /** publishing paused by the memory alarm */
  blocked = false;
  /** has published at least once (only publishers hear connection.blocked) */
  publisher = false;
  private blockedNotified = false;
  private paused = false;
  private readonly flowQueues = new Set<FlowSource>();
  /** frames received while publishing is blocked by the memory alarm, in order */
  private alarmHeld: Buffer[] | null = null;
  recvOct = 0;
  sendOct = 0;
  recvCnt = 0;
  sendCnt = 0;
  closeReason = '';
  /** the channel whose frame caused a connection error (0: the connection's own) */
  private errorChannel = 0;
  private closedWaiters: (() => void)[] = [];

  constructor(broker: Broker, socket: Socket, id: number) {
    this.broker = broker;
    this.socket = socket;
    this.id = id;
    this.frameMax = broker.opts.frameMax;
    this.channelMax = broker.opts.channelMax;
    this.reader = new FrameReader(this.frameMax);
    this.peerHost = socket.remoteAddress ?? '';
    this.peerPort = socket.remotePort ?? 0;
    this.peer = `${this.peerHost}:${this.peerPort}`;
    this.flushBound = () => this.flush();
    this.writtenBound = () => this.writer.written();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.onClose());
    socket.on('drain', () => this.onDrain());
    this.handshakeTimer = setTimeout(() => {
      this.broker.log(`closing AMQP connection ${this.peer}: handshake timeout`);
      socket.destroy();
    }, HANDSHAKE_TIMEOUT_MS);
    this.handshakeTimer.unref();
  }

  get running(): boolean {
    return this.state === State.Running;
  }

  get name(): string {
    const local = `${this.socket.localAddress ?? ''}:${this.socket.localPort ?? 0}`;
    return `${this.peer} -> ${local}`;
  }

  // ---- input

  private onData(chunk: Buffer): void {
    this.lastRead = Date.now();
    this.recvOct += chunk.length;
    try {
      if (this.state === State.Header) {
        chunk = this.readHeader(chunk);
        if (chunk.length === 0) return;
      }
      if (this.state === State.Closed) return;
      this.reader.push(chunk, this);
    } catch (err) {
      this.fail(err);
    }
  }

  private readHeader(chunk: Buffer): Buffer {
    const buf = this.headerBuf ? Buffer.concat([this.headerBuf, chunk]) : chunk;
    if (buf.length < 8) {
      this.headerBuf = buf;
      return Buffer.alloc(0);
    }
    this.headerBuf = null;
    if (!buf.subarray(0, 8).equals(PROTOCOL_HEADER)) {
      // AMQP 0-9-1 §4.2.2: answer a bad header with the header we support, then close
      this.socket.end(PROTOCOL_HEADER);
      this.state = State.Closed;
      return Buffer.alloc(0);
    }
    this.state = State.StartOk;
    this.sendStart();
    return buf.subarray(8);
  }

  onFrame(type: number, channel: number, buf: Buffer, start: number, end: number): void {
    this.recvCnt++;
    if (this.state === State.Closed) return;
    if (this.alarmHeld !== null) {
      this.alarmHeld.push(Buffer.from(buf.subarray(start - 7, end + 1)));
      return;
    }
    if (this.blocked && type === FRAME_METHOD && channel !== 0 && this.state === State.Running && end - start >= 4 && buf.readUInt32BE(start) === M.BASIC_PUBLISH) {
      // memory alarm: a publish waits, with everything after it, until the alarm clears (RabbitMQ blocks the
      // connection on its first publish); the socket is not read meanwhile
      this.alarmHeld = [Buffer.from(buf.subarray(start - 7, end + 1))];
      this.publisher = true;
      this.notifyBlocked();
      this.throttle();
      return;
    }
    if (channel !== 0) {
      const held = this.channels.get(channel);
      // a channel waiting for a replicated metadata change keeps later frames in order until it is done
      if (held !== undefined && held.holding) {
        held.hold(buf.subarray(start - 7, end + 1));
        return;
      }
    }
    if (type === FRAME_METHOD) {
      if (end - start < 4) throw new FrameError('method frame too short');
      const id = buf.readUInt32BE(start);
      const info = M.METHODS.get(id);
      if (!info) throw new ConnectionError(REPLY.NOT_IMPLEMENTED, `unknown method ${id >>> 16}.${id & 0xffff}`);
      const args = id === M.CONNECTION_START_OK ? decodeStartOk(this.r.reset(buf, start + 4, end)) : info.decode(this.r.reset(buf, start + 4, end));
      if (channel === 0) this.connectionMethod(id, args, info.classId, info.methodId);
      else this.channelMethod(channel, id, args, info.classId, info.methodId);
    } else if (type === FRAME_HEADER || type === FRAME_BODY) {
      if (channel === 0) throw unexpectedFrame(`content frame on channel 0`);
      if (this.state === State.Closing) return;
      const ch = this.channels.get(channel);
      if (!ch) throw channelError(`content frame on unopened channel ${channel}`);
      try {
        if (type === FRAME_HEADER) ch.onHeader(buf, start, end);
        else ch.onBody(buf, start, end);
      } catch (err) {
        // a soft error while completing a publish (too large, user_id mismatch) closes only the channel
        if (err instanceof ChannelError) {
          err.classId = 60;
          err.methodId = 40;
          ch.closeWithError(err);
        } else throw err;
      }
    } else if (type === FRAME_HEARTBEAT) {
      if (channel !== 0) throw unexpectedFrame(`heartbeat frame on channel ${channel}`);
    } else {
      throw new FrameError(`unknown frame type ${type}`);
    }
  }

  private connectionMethod(id: number, args: unknown, classId: number, methodId: number): void {
    const s = this.state;
    if (s === State.Closing) {
      // the close this server began is over: as in RabbitMQ, the connection's exclusive queues are gone once its
      // close-ok has arrived (not only when the socket has finished closing, which another connection could race)
      if (id === M.CONNECTION_CLOSE_OK) {
        this.dropExclusiveQueues();
        this.socket.end();
      } else if (id === M.CONNECTION_CLOSE) {
        this.dropExclusiveQueues();
        M.encodeConnectionCloseOk(this.writer, 0);
        this.flush();
        this.socket.end();
      }
      return;
    }
    try {
      switch (id) {
        case M.CONNECTION_START_OK:
          if (s === State.Running) throw channelError('unexpected method in connection state running');
          if (s !== State.StartOk) throw commandInvalid('connection.start-ok out of order');
          return this.startOk(args as M.ConnectionStartOk);
        case M.CONNECTION_TUNE_OK:
          if (s === State.Running) throw channelError('unexpected method in connection state running');
          if (s !== State.TuneOk) throw commandInvalid('connection.tune-ok out of order');
          return this.tuneOk(args as M.ConnectionTuneOk);
        case M.CONNECTION_OPEN:
          if (s === State.Running) throw channelError('unexpected method in connection state running');
          if (s !== State.Open) throw commandInvalid('connection.open out of order');
          return this.open(args as M.ConnectionOpen);
        case M.CONNECTION_CLOSE: {
          // RabbitMQ closes the channels and deletes the exclusive queues before it answers close-ok, so a client
          // that looks right after close finds them gone
          this.closeChannels();
          this.dropExclusiveQueues();
          M.encodeConnectionCloseOk(this.writer, 0);
          this.flush();
          this.state = State.Closed;
          this.socket.end();
          return;
        }
        case M.CONNECTION_CLOSE_OK:
          this.socket.end();
          return;
        case M.CONNECTION_BLOCKED:
        case M.CONNECTION_UNBLOCKED:
          return;
        case M.CONNECTION_UPDATE_SECRET:
          if (s !== State.Running) throw commandInvalid('connection.update-secret before open');
          M.encodeConnectionUpdateSecretOk(this.writer, 0);
          this.scheduleFlush();
          return;
        default:
          // a channel's method on channel 0 (RabbitMQ: 504)
          if (classId !== 10) throw channelError(`method ${classId}.${methodId} is not allowed on channel 0`);
          throw commandInvalid(`method ${classId}.${methodId} not allowed on channel 0`);
      }
    } catch (err) {
      if (err instanceof AmqpError && err.classId === 0) {
        err.classId = classId;
        err.methodId = methodId;
      }
      throw err;
    }
  }

  private channelMethod(channel: number, id: number, args: unknown, classId: number, methodId: number): void {
    if (this.state === State.Closing) return;
    if (this.state !== State.Running) throw commandInvalid(`channel method before connection.open`);
    if (id === M.CHANNEL_OPEN) {
      if (channel > this.channelMax) {
        throw notAllowed(`number of channels opened (${this.channels.size}) has reached the negotiated channel_max (${this.channelMax})`);
      }
      if (this.channels.has(channel)) throw channelError(`second 'channel.open' seen on channel ${channel}`);
      const ch = new Channel(this, channel);
      this.channels.set(channel, ch);
      M.encodeChannelOpenOk(this.writer, channel, '');
      this.scheduleFlush();
      return;
    }
    const ch = this.channels.get(channel);
    if (!ch) {
      if (id === M.CHANNEL_CLOSE_OK) return;
      throw channelError(`expected 'channel.open' on channel ${channel}, got ${classId}.${methodId}`);
    }
    try {
      ch.onMethod(id, args);
    } catch (err) {
      if (err instanceof AmqpError) {
        err.classId = classId;
        err.methodId = methodId;
      }
      if (err instanceof ChannelError) ch.closeWithError(err);
      else {
        this.errorChannel = channel;
        throw err;
      }
    }
  }

  // ---- handshake

  private sendStart(): void {
    const props: FieldTable = {
      product: PRODUCT,
      version: VERSION,
      platform: `Node.js ${process.version}`,
      copyright: 'Warren contributors',
      information: `Warren ${WARREN_VERSION}, an AMQP 0-9-1 broker in TypeScript`,
      cluster_name: this.broker.clusterName,
      capabilities: {
        publisher_confirms: true,
        exchange_exchange_bindings: true,
        'basic.nack': true,
        consumer_cancel_notify: true,
        'connection.blocked': true,
        consumer_priorities: true,
        authentication_failure_close: true,
        per_consumer_qos: true,
        direct_reply_to: true,
      },
    };
    M.encodeConnectionStart(this.writer, 0, 0, 9, props, 'PLAIN AMQPLAIN', 'en_US');
    this.flush();
  }

  private startOk(a: M.ConnectionStartOk): void {
    this.clientProperties = a.clientProperties;
    const caps = a.clientProperties['capabilities'];
    this.capabilities = caps && typeof caps === 'object' && !Array.isArray(caps) && !Buffer.isBuffer(caps) && !(caps instanceof Date) ? (caps as FieldTable) : {};
    let username: string;
    let password: string;
    if (a.mechanism === 'PLAIN') {
      // RFC 4616: [authzid] NUL authcid NUL passwd
      const parts = (a as StartOk).responseBytes.toString('utf8').split('\u0000');
      if (parts.length !== 3) throw new ConnectionError(REPLY.ACCESS_REFUSED, 'PLAIN login refused: malformed response');
      username = parts[1]!;
      password = parts[2]!;
    } else if (a.mechanism === 'AMQPLAIN') {
      // a field table without its length prefix: LOGIN and PASSWORD
      const raw = (a as StartOk).responseBytes;
      const len = Buffer.alloc(4);
      len.writeUInt32BE(raw.length);
      let t: FieldTable;
      try {
        t = new Reader(Buffer.concat([len, raw])).table();
      } catch {
        throw new ConnectionError(REPLY.ACCESS_REFUSED, 'AMQPLAIN login refused: malformed response');
      }
      username = String(t['LOGIN'] ?? '');
      password = String(t['PASSWORD'] ?? '');
    } else {
      throw new ConnectionError(REPLY.ACCESS_REFUSED, `unsupported authentication mechanism '${a.mechanism}'`);
    }
    const user = this.broker.users.get(username);
    if (!user || !checkPassword(user, password)) {
      this.broker.log(`closing AMQP connection ${this.peer}: user '${username}' - invalid credentials`);
      throw new ConnectionError(REPLY.ACCESS_REFUSED, `Login was refused using authentication mechanism ${a.mechanism}. For details see the broker logfile.`);
    }
    if (this.broker.opts.loopbackUsers.includes(username) && !isLoopback(this.peerHost)) {
      this.broker.log(`closing AMQP connection ${this.peer}: user '${username}' can only connect via localhost`);
      throw new ConnectionError(REPLY.ACCESS_REFUSED, `user '${username}' can only connect via localhost`);
    }
    this.user = user;
    this.state = State.TuneOk;
    M.encodeConnectionTune(this.writer, 0, this.channelMax, this.frameMax, this.broker.opts.heartbeat);
    this.flush();
  }

  private tuneOk(a: M.ConnectionTuneOk): void {
    if (a.frameMax !== 0 && a.frameMax < FRAME_MIN_SIZE) throw notAllowed(`frame_max=${a.frameMax} < ${FRAME_MIN_SIZE} min size`);
    if (a.frameMax > this.frameMax) throw notAllowed(`frame_max=${a.frameMax} > ${this.frameMax} max size`);
    if (a.channelMax > this.channelMax) throw notAllowed(`channel_max=${a.channelMax} > ${this.channelMax} max`);
    if (a.frameMax !== 0) this.frameMax = a.frameMax;
    if (a.channelMax !== 0) this.channelMax = a.channelMax;
    this.reader.frameMax = this.frameMax;
    this.heartbeat = a.heartbeat;
    this.state = State.Open;
    if (this.heartbeat > 0) this.startHeartbeats();
  }

  private open(a: M.ConnectionOpen): void {
    const vh = this.broker.vhosts.get(a.virtualHost);
    if (!vh) throw notAllowed(`vhost ${a.virtualHost} not found`);
    const perm = this.broker.permissionFor(this.user!.name, a.virtualHost);
    if (!perm) throw notAllowed(`access to vhost '${a.virtualHost}' refused for user '${this.user!.name}'`);
    this.vhost = vh;
    this.perm = perm;
    this.state = State.Running;
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    M.encodeConnectionOpenOk(this.writer, 0, '');
    this.scheduleFlush();
    this.broker.log(`accepting AMQP connection ${this.name} (user '${this.user!.name}', vhost '${a.virtualHost}')`);
    if (this.broker.memoryAlarm || this.broker.diskAlarm) this.alarmChanged(true);
  }

  // ---- heartbeats (AMQP 0-9-1 §4.2.7)

  private startHeartbeats(): void {
    const intervalMs = (this.heartbeat * 1000) / 2;
    this.heartbeatTimer = setInterval(() => {
      const now = Date.now();
      // while we do not read (memory alarm, flow) the peer's heartbeats sit unread: that is not silence
      if (this.socket.isPaused()) this.lastRead = now;
      // two missed intervals of silence from the peer: it is dead
      if (now - this.lastRead > this.heartbeat * 2 * 1000) {
        this.broker.log(`closing AMQP connection ${this.peer}: missed heartbeats from client, timeout: ${this.heartbeat}s`);
        this.socket.destroy();
        return;
      }
      if (now - this.lastWrite >= intervalMs) {
        this.writer.heartbeat();
        this.flush();
      }
    }, intervalMs);
    this.heartbeatTimer.unref();
  }

  // ---- output

  scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(this.flushBound);
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.writer.pos === 0) return;
    if (this.socket.destroyed) {
      this.writer.pos = 0;
      return;
    }
    this.sendOct += this.writer.pos;
    this.lastWrite = Date.now();
    if (this.writer.pos < HAND_OUT_MIN_BYTES) this.socket.write(this.writer.take());
    else this.socket.write(this.writer.handOut(), this.writtenBound);
    if (!this.congested && this.socket.writableLength > SOCKET_HIGH_WATER_BYTES) this.congested = true;
  }

  private onDrain(): void {
    if (!this.congested) return;
    this.congested = false;
    for (const ch of this.channels.values()) ch.resumeConsumers();
  }

  // ---- memory and disc alarms: block publishers (RabbitMQ connection.blocked extension)

  alarmChanged(on: boolean): void {
    // (one alarm clearing leaves publishers blocked while the other is on)
    if (!on && (this.broker.memoryAlarm || this.broker.diskAlarm)) return;
    if (!on) {
      if (this.blockedNotified && this.capabilities['connection.blocked'] === true) {
        M.encodeConnectionUnblocked(this.writer, 0);
        this.scheduleFlush();
      }
      this.blockedNotified = false;
      this.blocked = false;
      const held = this.alarmHeld;
      this.alarmHeld = null;
      if (held !== null) this.replayFrames(held);
      if (this.paused) {
        this.paused = false;
        this.updateReading();
      }
      return;
    }
    this.blocked = true;
    // RabbitMQ tells only connections that publish; one that has not published yet hears it on its first publish
    if (this.publisher) this.notifyBlocked();
  }

  private notifyBlocked(): void {
    if (this.running && !this.blockedNotified && this.capabilities['connection.blocked'] === true) {
      this.blockedNotified = true;
      M.encodeConnectionBlocked(this.writer, 0, this.broker.memoryAlarm ? 'low on memory' : 'low on disk');
      this.scheduleFlush();
    }
  }

  /** Called by a channel when it publishes while the alarm is on: stop reading from this socket. */
  throttle(): void {
    if (!this.paused) {
      this.paused = true;
      this.updateReading();
    }
  }

  // ---- flow control (RabbitMQ's "flow" connection state): a publisher is not read from while a queue it
  // published to holds a backlog its consumers have not caught up with, so consumers are not starved by a
  // publisher that fills the event loop, and memory does not grow without bound.

  flowBlock(q: FlowSource): void {
    if (this.flowQueues.has(q)) return;
    this.flowQueues.add(q);
    q.holdPublisher(this);
    if (this.flowQueues.size === 1) this.updateReading();
  }

  flowRelease(q: FlowSource): void {
    if (!this.flowQueues.delete(q)) return;
    if (this.flowQueues.size === 0) this.updateReading();
  }

  get inFlow(): boolean {
    return this.flowQueues.size > 0;
  }

  private updateReading(): void {
    const stop = this.paused || this.flowQueues.size > 0;
    if (stop && !this.socket.isPaused()) this.socket.pause();
    else if (!stop && this.socket.isPaused()) this.socket.resume();
  }

  // ---- errors and closing

  /** Sends connection.close for a hard error and waits for close-ok (AMQP 0-9-1 §4.2.4). */
  private fail(err: unknown): void {
    if (this.state === State.Closed || this.state === State.Closing) return;
    let e: AmqpError;
    if (err instanceof ConnectionError) e = err;
    else if (err instanceof ChannelError) e = new ConnectionError(err.code, err.message);
    else {
      this.broker.log(`internal error on connection ${this.peer}: ${(err as Error)?.stack ?? String(err)}`);
      e = new ConnectionError(REPLY.INTERNAL_ERROR, 'internal error');
    }
    this.logHardError(e, this.errorChannel);
    this.closeWith(e.code, e.replyText(), e.classId, e.methodId);
  }

  /** RabbitMQ's log line for a connection closed by an error (rabbit_reader's log_hard_error). */
  private logHardError(e: AmqpError, channel: number): void {
    const method = e.classId === 0 ? 'none' : (M.METHODS.get(((e.classId << 16) | e.methodId) >>> 0)?.name ?? `${e.classId}.${e.methodId}`);
    const state = this.state === State.Running ? 'running' : this.state === State.Closing ? 'closing' : 'starting';
    this.broker.log(
      `Error on AMQP connection ${this.name} (vhost: '${this.vhost?.name ?? 'none'}', user: '${this.user?.name ?? 'none'}', state: ${state}), channel ${channel}:\n` +
        ` operation ${method} caused a connection exception ${(REPLY_TEXT[e.code] ?? 'internal_error').toLowerCase()}: "${e.message}"`,
    );
  }

  closeWith(code: number, text: string, classId = 0, methodId = 0): void {
    if (this.state === State.Closed || this.state === State.Closing) return;
    const beforeOpen = this.state < State.Running;
    this.closeReason = text;
    if (this.state === State.Header) {
      this.socket.destroy();
      return;
    }
    this.state = State.Closing;
    this.closeChannels();
    M.encodeConnectionClose(this.writer, 0, code, text, classId, methodId);
    this.flush();
    // clients without authentication_failure_close expect the socket to just close on a failed login
    if (beforeOpen && code === REPLY.ACCESS_REFUSED && this.capabilities['authentication_failure_close'] !== true) {
      this.socket.end();
    }
    const t = setTimeout(() => this.socket.destroy(), CLOSE_OK_TIMEOUT_MS);
    t.unref();
  }

  /** Server-initiated close (shutdown, brokerctl close_connection): 320 CONNECTION_FORCED. */
  forceClose(reason: string): Promise<void> {
    if (this.state === State.Closed) return Promise.resolve();
    const done = new Promise<void>((r) => this.closedWaiters.push(r));
    // RabbitMQ logs the reason given (rabbit_networking:close_connection), then the close itself
    this.broker.log(`Closing connection ${this.name} because "${reason}"`);
    if (this.state === State.Closing || this.state < State.StartOk) this.socket.destroy();
    else {
      this.logHardError(new ConnectionError(REPLY.CONNECTION_FORCED, reason), 0);
      this.closeWith(REPLY.CONNECTION_FORCED, `CONNECTION_FORCED - ${reason}`);
    }
    return done;
  }

  private closeChannels(): void {
    for (const ch of this.channels.values()) ch.teardown();
    this.channels.clear();
  }

  private onClose(): void {
    this.state = State.Closed;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.heartbeatTimer = null;
    this.handshakeTimer = null;
    this.closeChannels();
    for (const q of this.flowQueues) q.flowBlocked.delete(this);
    this.flowQueues.clear();
    this.dropExclusiveQueues();
    for (const w of this.closedWaiters.splice(0)) w();
  }

  /** Exclusive queues die with their connection (AMQP 0-9-1 queue.declare exclusive). */
  private dropExclusiveQueues(): void {
    if (!this.vhost) return;
    for (const q of [...this.vhost.queues.values()]) if (q.exclusive && q.owner === this.id && !q.deleted) this.broker.queueUnused(q, () => true);
  }

  /** Feeds frames a channel held back while it waited (see Channel.awaitChange). */
  replayFrames(frames: Buffer[]): void {
    try {
      for (let i = 0; i < frames.length; i++) {
        const f = frames[i]!;
        const ch = this.channels.get(f.readUInt16BE(1));
        if (ch !== undefined && ch.holding) {
          // the replayed frames started another wait: the rest stay held, in order
          for (let j = i; j < frames.length; j++) ch.hold(frames[j]!);
          return;
        }
        this.onFrame(f[0]!, f.readUInt16BE(1), f, 7, f.length - 1);
      }
    } catch (err) {
      this.fail(err);
    }
  }

  channelClosed(id: number): void {
    this.channels.delete(id);
  }
}

/** A queue that can hold publishers back. */
export interface FlowSource {
  readonly flowBlocked: Set<{ flowRelease(q: FlowSource): void }>;
  holdPublisher(c: { flowRelease(q: FlowSource): void }): void;
}

interface StartOk extends M.ConnectionStartOk {
  responseBytes: Buffer;
}

/** connection.start-ok with the SASL response kept as bytes: AMQPLAIN's binary table is not UTF-8. */
function decodeStartOk(r: Reader): StartOk {
  const clientProperties = r.table();
  const mechanism = r.shortstr();
  const responseBytes = Buffer.from(r.longstrBytes());
  const locale = r.shortstr();
  return { clientProperties, mechanism, response: '', responseBytes, locale };
}

export function isLoopback(addr: string): boolean {
  if (addr === '::1') return true;
  const v4 = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return isIP(v4) === 4 && v4.startsWith('127.');
}
