import type { Clock, TimerHandle } from './clock.ts';
import { FrameDecoder, FrameKind, FrameWriter, packr, unpackBody, FRAME_HEADER_BYTES } from './codec.ts';
import type { FrameSink } from './codec.ts';
import { PeerError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { Connection, ConnectionHandler } from './transport/transport.ts';

/**
 * Heartbeats: every tick a link sends HEARTBEAT unless it sent something else during that tick, and counts ticks
 * in which nothing at all arrived. Like Erlang's net_ticktime (where a tick is a quarter of the period), but with
 * a 1 s tick by default, because a mirrored queue must notice a dead peer in seconds, not a minute.
 */
export const DEFAULT_HEARTBEAT_TICK_MS = 1_000;
/** Declared dead after this many whole silent ticks: between 4 and 5 s at the default tick. */
export const DEFAULT_HEARTBEAT_MISSED_TICKS = 4;
/**
 * A request is an RPC to a live peer that answers within milliseconds; 15 s waits out a busy peer or a
 * heartbeat-detected failure (which rejects sooner, with LINK_CLOSED) and still gives callers a bounded wait.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
/** send() starts returning false above this many queued bytes (ours plus the transport's). */
export const DEFAULT_HIGH_WATER_MARK_BYTES = 1024 * 1024;
/** send() throws QUEUE_FULL instead of queueing beyond this: a stalled peer must not eat our memory. */
export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/**
 * After an orderly close, how long the peer has to close its side before we destroy the connection: a frozen or
 * vanished peer would otherwise keep a half-closed socket (and a server's close()) waiting for minutes of TCP
 * retransmissions.
 */
export const CLOSE_LINGER_MS = 2_000;

export interface LinkLimits {
  readonly heartbeatTickMs: number;
  readonly heartbeatMissedTicks: number;
  readonly maxFrameBytes: number;
  readonly requestTimeoutMs: number;
  readonly highWaterMarkBytes: number;
  readonly maxQueuedBytes: number;
}

/** Returned by PeerHandler.onRequest: the reply comes later through PeerLink.reply() / replyError(). */
export const DEFERRED: unique symbol = Symbol('deferred reply');

/** What the application does with a link's traffic. Callbacks must not throw; if they do, it is logged. */
export interface PeerHandler {
  /** A one-way message. */
  onMessage(link: PeerLink, message: unknown): void;
  /**
   * A request; the returned value (or the promise's value) is the reply, a throw (or rejection) a REMOTE_ERROR. A
   * handler that answers later without a promise returns DEFERRED and calls link.reply(id, value) or
   * link.replyError(id, error) once, when it knows.
   */
  onRequest?(link: PeerLink, request: unknown, id: number): unknown;
  /** The link is authenticated and registered. */
  onLinkUp?(link: PeerLink): void;
  /** The link is gone. error is undefined when this node closed it. */
  onLinkDown?(link: PeerLink, error: PeerError | undefined): void;
  /** send() returned false earlier and the backlog has since been handed to the transport. */
  onDrain?(link: PeerLink): void;
}

export interface PeerLinkParams {
  readonly connection: Connection;
  /** Paused, possibly holding bytes that followed the handshake. */
  readonly decoder: FrameDecoder;
  readonly localNode: string;
  readonly remoteNode: string;
  readonly remoteIncarnation: number;
  /** This node dialed. */
  readonly initiator: boolean;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly limits: LinkLimits;
  readonly handler: PeerHandler;
  /** For the registry that owns the link: called before handler.onLinkDown. */
  readonly onClosed?: (link: PeerLink, error: PeerError | undefined) => void;
}

/** Hears the outcome of a request sent with requestWith(): token is the caller's, handed back. */
export interface ReplyHandler {
  onReply(token: number, value: unknown): void;
  onReplyError(token: number, error: PeerError): void;
}

class PromiseReply implements ReplyHandler {
  constructor(
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: PeerError) => void,
  ) {}

  onReply(_token: number, value: unknown): void {
    this.resolve(value);
  }

  onReplyError(_token: number, error: PeerError): void {
    this.reject(error);
  }
}

class PendingRequest {
  constructor(
    readonly handler: ReplyHandler,
    readonly token: number,
    /** request(): a timer of its own; requestWith(): null, the heartbeat tick checks the deadline */
    readonly timer: TimerHandle | null,
    readonly deadline: number,
    readonly timeoutMs: number,
  ) {}
}

export interface RequestOptions {
  readonly timeoutMs?: number;
}

/** The largest request id before wrapping; 0 is never used. */
const MAX_REQUEST_ID = 0xffffffff;

/**
 * An authenticated link to one peer node: one-way messages, requests with replies, heartbeats, backpressure.
 * Outgoing frames are appended to a FrameWriter and flushed once per microtask (one write for everything sent in
 * the same turn); while the transport asks us to wait for drain, frames keep accumulating and go out in one write
 * on drain. send() allocates no promise and no closure.
 */
export class PeerLink {
  readonly localNode: string;
  readonly remoteNode: string;
  readonly remoteIncarnation: number;
  readonly initiator: boolean;
  readonly localAddress: string;
  readonly remoteAddress: string;

  private readonly connection: Connection;
  private readonly decoder: FrameDecoder;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly limits: LinkLimits;
  private readonly handler: PeerHandler;
  private readonly onClosed: ((link: PeerLink, error: PeerError | undefined) => void) | undefined;
  private readonly writer = new FrameWriter();
  private readonly pending = new Map<number, PendingRequest>();
  private drainWaiters: Array<{ resolve: () => void; reject: (error: PeerError) => void }> = [];
  private nextRequestId = 1;
  private open = true;
  private flushScheduled = false;
  private transportBlocked = false;
  private needDrain = false;
  private receivedSinceTick = false;
  private sentSinceTick = false;
  private silentTicks = 0;
  private heartbeatTimer: TimerHandle | null = null;
  private lingerTimer: TimerHandle | null = null;
  /** start() ran: the handler knows about this link and hears about its end. */
  private started = false;
  private readonly flushTask: () => void;
  private readonly connectionHandler: ConnectionHandler;
  private readonly frameSink: FrameSink;
  private readonly tickTask: () => void;

  constructor(params: PeerLinkParams) {
    this.localNode = params.localNode;
    this.remoteNode = params.remoteNode;
    this.remoteIncarnation = params.remoteIncarnation;
    this.initiator = params.initiator;
    this.connection = params.connection;
    this.localAddress = params.connection.localAddress;
    this.remoteAddress = params.connection.remoteAddress;
    this.decoder = params.decoder;
    this.clock = params.clock;
    this.logger = params.logger;
    this.limits = params.limits;
    this.handler = params.handler;
    this.onClosed = params.onClosed;
    this.flushTask = () => {
      this.flushScheduled = false;
      this.flush();
    };
    this.tickTask = () => this.tick();
    this.decoder.maxFrameBytes = params.limits.maxFrameBytes;
    // From here on the link owns the connection; received bytes wait in the paused decoder until start().
    // Transport and decoder call in through these two objects, so those entry points stay off the public API.
    this.connectionHandler = {
      onData: (chunk) => this.onData(chunk),
      onDrain: () => this.onDrain(),
      onClose: (error) => this.onClose(error),
    };
    this.frameSink = { onFrame: (kind, body, owned) => this.onFrame(kind, body, owned) };
    this.connection.setHandler(this.connectionHandler);
  }

  /**
   * Starts heartbeats and delivery of received frames. The owner calls it once the link is registered and
   * onLinkUp has run, so no message reaches the application before it knows about the link.
   */
  start(): void {
    if (!this.open || this.started) return;
    this.started = true;
    this.heartbeatTimer = this.clock.setTimeout(this.tickTask, this.limits.heartbeatTickMs);
    // Bytes that followed the handshake (possibly in the same chunk as its last frame) are decoded now.
    try {
      this.decoder.resume(this.frameSink);
    } catch (error) {
      this.fail(error instanceof PeerError ? error : new PeerError('PROTOCOL_ERROR', String(error)));
    }
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Bytes waiting to go out: in our writer plus in the transport. */
  get queuedBytes(): number {
    return this.writer.pendingBytes + this.connection.writableLength;
  }

  /** send() returned false and the transport has not yet taken the backlog. */
  get writableNeedDrain(): boolean {
    return this.needDrain;
  }

  /**
   * Queues a one-way message. Returns false when the queue is above the high-water mark: the message is queued,
   * but the caller should wait for waitForDrain() (or handler.onDrain) before sending more. Throws LINK_CLOSED,
   * QUEUE_FULL (message not queued) or FRAME_TOO_LARGE (message not queued, link stays up).
   */
  send(message: unknown): boolean {
    return this.sendPacked(packr.pack(message));
  }

  /**
   * send() for a message already packed with packMessage(): one message to several links is packed once. The bytes
   * are copied before this returns.
   */
  sendPacked(payload: Buffer): boolean {
    this.append(FrameKind.MESSAGE, 0, false, payload);
    return this.afterAppend();
  }

  /** Sends a request and resolves with the peer's reply; rejects with REQUEST_TIMEOUT, REMOTE_ERROR, LINK_CLOSED. */
  request(message: unknown, options?: RequestOptions): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const id = this.appendRequest(message);
      const timeoutMs = options?.timeoutMs ?? this.limits.requestTimeoutMs;
      const timer = this.clock.setTimeout(() => this.expire(id), timeoutMs);
      this.pending.set(id, new PendingRequest(new PromiseReply(resolve, reject), 0, timer, 0, timeoutMs));
    });
  }

  /**
   * request() without a promise, a closure or a timer of its own, for one request per message on a hot path: the
   * handler hears onReply(token, value) or onReplyError(token, error) (REMOTE_ERROR, LINK_CLOSED, HEARTBEAT_TIMEOUT,
   * and REQUEST_TIMEOUT, noticed at the next heartbeat tick after the deadline). Throws as send() does.
   */
  requestWith(message: unknown, handler: ReplyHandler, token: number, timeoutMs = this.limits.requestTimeoutMs): void {
    const id = this.appendRequest(message);
    this.pending.set(id, new PendingRequest(handler, token, null, this.clock.now() + timeoutMs, timeoutMs));
  }

  /** Queues a REQUEST frame under the next request id, which it returns. Throws as send() does. */
  private appendRequest(message: unknown): number {
    const id = this.nextRequestId;
    this.append(FrameKind.REQUEST, id, true, packr.pack(message));
    this.nextRequestId = id === MAX_REQUEST_ID ? 1 : id + 1;
    this.afterAppend();
    return id;
  }

  /** Resolves once the backlog is handed to the transport (at once if there is none); rejects if the link closes. */
  waitForDrain(): Promise<void> {
    if (!this.open) return Promise.reject(this.closedError());
    if (!this.needDrain) return Promise.resolve();
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  /** Orderly close: queued frames and a GOODBYE go out first. handler.onLinkDown gets no error. */
  close(reason = 'closed by the local node'): void {
    if (!this.open) return;
    this.logger.info(`peer ${this.remoteNode}: closing the link (${reason})`);
    try {
      this.append(FrameKind.GOODBYE, 0, false, packr.pack({ reason }));
    } catch {
      // Queue full or closed: close without the goodbye.
    }
    this.flushScheduled = false;
    this.transportBlocked = false;
    this.flush();
    this.shutdown(undefined, false);
  }

  /** Closes at once, discarding queued frames; onLinkDown gets `error`. */
  destroy(error: PeerError): void {
    this.fail(error);
  }

  // Called by the transport (through connectionHandler)

  private onData(chunk: Buffer): void {
    this.receivedSinceTick = true;
    try {
      this.decoder.push(chunk);
    } catch (error) {
      this.fail(error instanceof PeerError ? error : new PeerError('PROTOCOL_ERROR', String(error)));
    }
  }

  private onDrain(): void {
    this.transportBlocked = false;
    this.flush();
  }

  private onClose(error: Error | undefined): void {
    if (this.lingerTimer !== null) {
      this.clock.clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
    }
    if (!this.open) return;
    const detail = error === undefined ? 'connection closed by the peer' : `connection lost: ${error.message}`;
    this.fail(new PeerError('LINK_CLOSED', `peer ${this.remoteNode}: ${detail}`));
  }

  // Called by the decoder (through frameSink). Throws PeerError for protocol violations; onData turns that into
  // closing the link.

  private onFrame(kind: number, body: Buffer, owned: boolean): void {
    if (!this.open) return;
    switch (kind) {
      case FrameKind.HEARTBEAT:
        return;
      case FrameKind.MESSAGE:
        return this.deliverMessage(unpackBody(body, kind, owned));
      case FrameKind.REQUEST:
        return this.deliverRequest(this.readId(body, kind), unpackBody(body.subarray(4), kind, owned));
      case FrameKind.REPLY:
        return this.settle(this.readId(body, kind), unpackBody(body.subarray(4), kind, owned), false);
      case FrameKind.REPLY_ERROR:
        return this.settle(this.readId(body, kind), unpackBody(body.subarray(4), kind), true);
      case FrameKind.GOODBYE: {
        const goodbye = unpackBody(body, kind) as { reason?: unknown } | null;
        const reason = typeof goodbye?.reason === 'string' ? goodbye.reason : 'no reason given';
        this.fail(new PeerError('LINK_CLOSED', `peer ${this.remoteNode} closed the link: ${reason}`), true);
        return;
      }
      default:
        throw new PeerError('PROTOCOL_ERROR', `peer ${this.remoteNode}: unexpected frame kind 0x${kind.toString(16)}`);
    }
  }

  private readId(body: Buffer, kind: number): number {
    if (body.length < 4) throw new PeerError('PROTOCOL_ERROR', `peer ${this.remoteNode}: frame kind 0x${kind.toString(16)} too short for a request id`);
    return body.readUInt32BE(0);
  }

  private deliverMessage(message: unknown): void {
    try {
      this.handler.onMessage(this, message);
    } catch (error) {
      this.logger.error(`peer ${this.remoteNode}: message handler threw: ${(error as Error).message}`);
    }
  }

  private deliverRequest(id: number, request: unknown): void {
    const onRequest = this.handler.onRequest;
    if (onRequest === undefined) {
      this.replyError(id, new Error('this node does not accept requests'));
      return;
    }
    let result: unknown;
    try {
      result = onRequest.call(this.handler, this, request, id);
    } catch (error) {
      this.replyError(id, error);
      return;
    }
    if (result === DEFERRED) return;
    if (typeof (result as PromiseLike<unknown> | null)?.then === 'function') {
      (result as PromiseLike<unknown>).then(
        (value) => this.reply(id, value),
        (error: unknown) => this.replyError(id, error),
      );
    } else {
      this.reply(id, result);
    }
  }

  /** Answers request `id` (a handler's DEFERRED reply); nothing once the link is closed. */
  reply(id: number, value: unknown): void {
    if (!this.open) return;
    try {
      this.append(FrameKind.REPLY, id, true, packr.pack(value));
      this.afterAppend();
    } catch (error) {
      // The value could not go out (too large, queue full): tell the requester instead of leaving it to time out.
      if (this.open) this.replyError(id, error);
    }
  }

  /** Answers request `id` with a REMOTE_ERROR carrying the error's message and code. */
  replyError(id: number, error: unknown): void {
    if (!this.open) return;
    const e = error as { message?: unknown; code?: unknown } | null;
    const body = {
      message: typeof e?.message === 'string' ? e.message : String(error),
      code: typeof e?.code === 'string' ? e.code : undefined,
    };
    try {
      this.append(FrameKind.REPLY_ERROR, id, true, packr.pack(body));
      this.afterAppend();
    } catch (sendError) {
      this.logger.warn(`peer ${this.remoteNode}: could not send error reply: ${(sendError as Error).message}`);
    }
  }

  private settle(id: number, value: unknown, isError: boolean): void {
    const request = this.pending.get(id);
    if (request === undefined) {
      this.logger.debug(`peer ${this.remoteNode}: reply to unknown or timed-out request ${id}`);
      return;
    }
    this.pending.delete(id);
    if (request.timer !== null) this.clock.clearTimeout(request.timer);
    if (!isError) {
      request.handler.onReply(request.token, value);
      return;
    }
    const remote = value as { message?: unknown; code?: unknown } | null;
    const message = typeof remote?.message === 'string' ? remote.message : 'unknown error';
    const code = typeof remote?.code === 'string' ? remote.code : undefined;
    request.handler.onReplyError(request.token, new PeerError('REMOTE_ERROR', `peer ${this.remoteNode}: ${message}`, code));
  }

  private expire(id: number): void {
    const request = this.pending.get(id);
    if (request === undefined) return;
    this.pending.delete(id);
    request.handler.onReplyError(request.token, new PeerError('REQUEST_TIMEOUT', `peer ${this.remoteNode}: no reply to request within ${request.timeoutMs} ms`));
  }

  /** requestWith() requests past their deadline (checked once per heartbeat tick). */
  private expireOverdue(): void {
    if (this.pending.size === 0) return;
    const now = this.clock.now();
    for (const [id, request] of this.pending) if (request.timer === null && request.deadline <= now) this.expire(id);
  }

  private append(kind: number, id: number, withId: boolean, payload: Buffer | null): void {
    if (!this.open) throw this.closedError();
    const frameBytes = 1 + (withId ? 4 : 0) + (payload === null ? 0 : payload.length);
    if (frameBytes > this.limits.maxFrameBytes) {
      throw new PeerError('FRAME_TOO_LARGE', `peer ${this.remoteNode}: frame of ${frameBytes} bytes exceeds the maximum of ${this.limits.maxFrameBytes}`);
    }
    if (this.queuedBytes + FRAME_HEADER_BYTES + frameBytes > this.limits.maxQueuedBytes) {
      throw new PeerError('QUEUE_FULL', `peer ${this.remoteNode}: outgoing queue would exceed ${this.limits.maxQueuedBytes} bytes`);
    }
    this.writer.write(kind, id, withId, payload);
    this.sentSinceTick = true;
  }

  private afterAppend(): boolean {
    if (!this.flushScheduled && !this.transportBlocked) {
      this.flushScheduled = true;
      queueMicrotask(this.flushTask);
    }
    if (this.queuedBytes >= this.limits.highWaterMarkBytes) {
      this.needDrain = true;
      return false;
    }
    return true;
  }

  private flush(): void {
    if (!this.open || this.transportBlocked) return;
    const bytes = this.writer.take();
    if (bytes !== null && !this.connection.write(bytes)) this.transportBlocked = true;
    // Drained once the transport took everything without asking us to wait. (Waiting for queuedBytes to fall
    // under the mark instead would hang when the transport's own buffer is larger than the mark: it then never
    // asks to wait, so it never signals drain.)
    if (this.needDrain && !this.transportBlocked && this.writer.pendingBytes === 0) {
      this.needDrain = false;
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const waiter of waiters) waiter.resolve();
      try {
        this.handler.onDrain?.(this);
      } catch (error) {
        this.logger.error(`peer ${this.remoteNode}: drain handler threw: ${(error as Error).message}`);
      }
    }
  }

  private tick(): void {
    this.heartbeatTimer = null;
    if (!this.open) return;
    this.silentTicks = this.receivedSinceTick ? 0 : this.silentTicks + 1;
    this.receivedSinceTick = false;
    if (this.silentTicks >= this.limits.heartbeatMissedTicks) {
      const silentMs = this.silentTicks * this.limits.heartbeatTickMs;
      this.fail(new PeerError('HEARTBEAT_TIMEOUT', `peer ${this.remoteNode}: nothing received for ${silentMs} ms, declaring it dead (heartbeat timeout)`));
      return;
    }
    if (!this.sentSinceTick) {
      try {
        this.append(FrameKind.HEARTBEAT, 0, false, null);
        this.afterAppend();
      } catch {
        // Queue full: the peer is not reading; its own silence or our heartbeat timeout will end the link.
      }
    }
    this.sentSinceTick = false;
    this.heartbeatTimer = this.clock.setTimeout(this.tickTask, this.limits.heartbeatTickMs);
    this.expireOverdue();
  }

  private fail(error: PeerError, graceful = false): void {
    if (!this.open) return;
    if (error.code === 'LINK_CLOSED') this.logger.info(error.message);
    else if (error.code === 'DUPLICATE_LINK') this.logger.debug(error.message);
    else this.logger.warn(error.message);
    this.shutdown(error, !graceful);
  }

  private shutdown(error: PeerError | undefined, destroy: boolean): void {
    this.open = false;
    if (this.heartbeatTimer !== null) {
      this.clock.clearTimeout(this.heartbeatTimer);
      this.heartbeatTimer = null;
    }
    if (destroy) this.connection.destroy();
    else {
      this.connection.end();
      this.lingerTimer = this.clock.setTimeout(() => {
        this.lingerTimer = null;
        this.connection.destroy();
      }, CLOSE_LINGER_MS);
    }
    const reason = error ?? new PeerError('LINK_CLOSED', `peer ${this.remoteNode}: link closed by the local node`);
    for (const request of this.pending.values()) {
      if (request.timer !== null) this.clock.clearTimeout(request.timer);
      request.handler.onReplyError(request.token, reason);
    }
    this.pending.clear();
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const waiter of waiters) waiter.reject(reason);
    try {
      this.onClosed?.(this, error);
    } catch (e) {
      this.logger.error(`peer ${this.remoteNode}: link registry threw on close: ${(e as Error).message}`);
    }
    if (!this.started) return;
    try {
      this.handler.onLinkDown?.(this, error);
    } catch (e) {
      this.logger.error(`peer ${this.remoteNode}: link-down handler threw: ${(e as Error).message}`);
    }
  }

  private closedError(): PeerError {
    return new PeerError('LINK_CLOSED', `peer ${this.remoteNode}: link is closed`);
  }
}
