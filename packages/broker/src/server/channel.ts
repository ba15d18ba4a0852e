// One AMQP channel: publish assembly, routing, confirms, transactions, consumers, prefetch, unacked deliveries.
// The hot paths (publish, deliver, ack) allocate nothing per message beyond the message itself: state lives in
// fields, deliveries go straight into the connection's write buffer, confirms are batched per tick.
import * as M from '../amqp/methods.ts';
import { FRAME_BODY, FRAME_HEADER } from '../amqp/writer.ts';
import { Reader } from '../amqp/reader.ts';
import { ChannelError, ConnectionError, REPLY, accessRefused, notAllowed, notFound, preconditionFailed, unexpectedFrame, notImplemented } from '../amqp/errors.ts';
import type { Connection } from './connection.ts';
import { bindingKey, type Exchange } from '../routing/exchange.ts';
import { Consumer, type ChannelDetails, type ConsumerChannel, type ConsumerQueue } from '../queue/consumer.ts';
import { Message, type QueuedMessage } from '../queue/message.ts';
import type { Queue } from '../queue/queue.ts';
import type { DurableWaiter } from '../store/message-store.ts';
import type { PermissionKind } from '../auth/users.ts';
import type { MetaCommand } from '../cluster/metadata.ts';
import { REPLY_TO_QUEUE } from './vhost.ts';
import { pendingConfirmations } from './confirm-rule.ts';
import { randomBytes } from 'node:crypto';

/** RabbitMQ max_message_size default */
export const MAX_MESSAGE_SIZE = 128 * 1024 * 1024;
const EMPTY_PROPERTIES = Buffer.from([0, 0]);
const NO_PROPERTIES: M.BasicProperties = Object.freeze({}) as M.BasicProperties;
/**
 * A body at least this big that arrives whole in one frame is kept as a view of the read buffer instead of a copy.
 * Smaller bodies are copied: a view keeps the whole read chunk (up to 64 KB) alive, which for tiny messages would be
 * a large multiple of their size, while copying them costs little.
 */
const VIEW_MIN_BODY_BYTES = 256;

const enum State {
  Open,
  Closing,
  /** channel.close received; close-ok waits for the confirms of messages still on their way to disc or mirrors */
  Draining,
}

const enum Expect {
  Method,
  Header,
  Body,
}

interface TxOp {
  kind: 'publish' | 'ack' | 'nack' | 'reject';
  exchange?: Exchange;
  msg?: Message;
  mandatory?: boolean;
  tag?: number;
  multiple?: boolean;
  requeue?: boolean;
}

type Handler = (c: Channel, args: unknown) => void;
/** Method dispatch by table keyed by classId << 16 | methodId (STYLE: no giant switch); filled below the class. */
const HANDLERS: Map<number, Handler> = new Map();

export class Channel implements ConsumerChannel, DurableWaiter {
  readonly conn: Connection;
  readonly id: number;
  private state = State.Open;
  flowActive = true;
  // publish assembly
  private expect = Expect.Method;
  private pubExchange: Exchange | null = null;
  private pubRoutingKey = '';
  private pubMandatory = false;
  private pubProps: M.BasicProperties = {};
  private pubRawProps: Buffer = EMPTY_PROPERTIES;
  /** the last decoded non-empty properties: a publisher mostly repeats them, so they are decoded once, not per message */
  private lastProps: M.BasicProperties = NO_PROPERTIES;
  private lastRawProps: Buffer = EMPTY_PROPERTIES;
  private pubBodySize = 0;
  private pubBody: Buffer | null = null;
  private pubReceived = 0;
  private readonly headerReader = new Reader(Buffer.alloc(0));
  // consumers and deliveries
  readonly consumers = new Map<string, Consumer>();
  prefetchCount = 0;
  globalPrefetch = 0;
  unackedCount = 0;
  private deliveryTag = 0;
  readonly unacked = new Map<number, QueuedMessage>();
  // confirms (RabbitMQ extension confirm.select)
  confirm = false;
  private publishSeq = 0;
  private lastConfirmed = 0;
  /** sequence number -> confirmations still awaited (the local disc, queues on other nodes) */
  private readonly pendingDisk = new Map<number, number>();
  /** sequence numbers already nacked, in order, that a later multiple ack must not cover */
  private nacked: number[] = [];
  private confirmScheduled = false;
  private readonly confirmBound: () => void;
  // transactions
  tx = false;
  private txOps: TxOp[] = [];
  /** the last queue declared on this channel (for empty queue names) */
  private lastQueue = '';
  // replicated metadata changes in flight
  holding = false;
  private held: Buffer[] = [];
  // stats
  publishCount = 0;
  deliverCount = 0;
  ackCount = 0;
  readonly createdAt = Date.now();

  describe(): ChannelDetails {
    const c = this.conn;
    return { connection: c.name, channel: this.id, user: c.user?.name ?? '', peerHost: c.peerHost, peerPort: c.peerPort, node: c.broker.localNode };
  }

  constructor(conn: Connection, id: number) {
    this.conn = conn;
    this.id = id;
    this.confirmBound = () => this.flushConfirms();
  }

  get connectionId(): number {
    return this.conn.id;
  }

  get closing(): boolean {
    return this.state !== State.Open;
  }

  // ---- dispatch of incoming methods (a table would also do; the cases are few and grouped by class)

  onMethod(id: number, args: unknown): void {
    if (this.state === State.Draining) return; // the client may send nothing but what follows our close-ok
    if (this.state === State.Closing) {
      if (id === M.CHANNEL_CLOSE_OK) this.conn.channelClosed(this.id);
      else if (id === M.CHANNEL_CLOSE) {
        M.encodeChannelCloseOk(this.conn.writer, this.id);
        this.conn.scheduleFlush();
        this.conn.channelClosed(this.id);
      }
      return;
    }
    if (this.expect !== Expect.Method) throw unexpectedFrame(`expected content frame on channel ${this.id}, got a method`);
    const handler = HANDLERS.get(id);
    if (!handler) throw new ConnectionError(REPLY.COMMAND_INVALID, `method ${id >>> 16}.${id & 0xffff} not valid on a channel`);
    handler(this, args);
  }

  // ---- channel class

  /**
   * RabbitMQ sends every publisher confirm before channel.close-ok (a client forgets the channel at close-ok, and
   * amqplib fails the connection on a frame for a channel it does not know): the confirms already due go out now,
   * and close-ok waits for those of messages still on their way to disc or to other nodes.
   */
  private chClose(): void {
    this.teardown(true);
    if (this.pendingDisk.size > 0) {
      this.state = State.Draining;
      return;
    }
    this.finishClose();
  }

  private finishClose(): void {
    if (this.confirm) this.flushConfirms();
    this.pendingDisk.clear();
    this.state = State.Closing; // nothing more goes out on this channel number
    M.encodeChannelCloseOk(this.conn.writer, this.id);
    this.conn.scheduleFlush();
    this.conn.channelClosed(this.id);
  }

  private chFlow(a: M.ChannelFlow): void {
    // RabbitMQ 3.10 does not let clients stop deliveries with channel.flow: active=false is a connection error
    if (!a.active) throw notImplemented('active=false');
    this.flowActive = a.active;
    M.encodeChannelFlowOk(this.conn.writer, this.id, a.active);
    this.conn.scheduleFlush();
    if (a.active) this.resumeConsumers();
  }

  /** Soft error: AMQP 0-9-1 §4.2.4 channel.close with the reply code; ignore everything until close-ok. */
  closeWithError(err: ChannelError): void {
    this.conn.broker.log(`channel error on connection ${this.conn.peer}, channel ${this.id}: ${err.replyText()}`);
    this.teardown();
    this.state = State.Closing;
    this.expect = Expect.Method;
    M.encodeChannelClose(this.conn.writer, this.id, err.code, err.replyText(), err.classId, err.methodId);
    this.conn.scheduleFlush();
  }

  // ---- direct reply-to (RabbitMQ): replies go straight to this channel's no-ack consumer, no queue involved

  private replyTag: string | null = null;
  private replyToken = '';

  private consumeReplies(a: M.BasicConsume): void {
    if (!a.noAck) throw preconditionFailed('reply consumer cannot acknowledge');
    if (this.replyTag !== null) throw preconditionFailed('reply consumer already set');
    const tag = a.consumerTag === '' ? `amq.ctag-${randomBytes(16).toString('base64url').slice(0, 22)}` : a.consumerTag;
    this.replyTag = tag;
    this.replyToken = `${randomBytes(12).toString('base64url')}.${this.conn.id}.${this.id}`;
    this.conn.vhost!.replyConsumers.set(this.replyToken, this);
    if (!a.nowait) {
      M.encodeBasicConsumeOk(this.conn.writer, this.id, tag);
      this.conn.scheduleFlush();
    }
  }

  private stopReplies(): void {
    this.conn.vhost?.replyConsumers.delete(this.replyToken);
    this.replyTag = null;
  }

  deliverReply(msg: Message): void {
    if (this.replyTag === null || this.state !== State.Open) return;
    M.encodeBasicDeliver(this.conn.writer, this.id, this.replyTag, ++this.deliveryTag, false, msg.exchange, msg.routingKey);
    this.writeContent(msg);
    this.conn.scheduleFlush();
  }

  /** Releases consumers and requeues unacked deliveries (channel or connection closed). */
  teardown(keepConfirms = false): void {
    if (this.replyTag !== null) this.stopReplies();
    for (const c of this.consumers.values()) c.queue.removeConsumer(c);
    this.consumers.clear();
    this.requeueAll();
    this.pubBody = null;
    this.txOps = [];
    if (!keepConfirms) this.pendingDisk.clear();
  }

  private requeueAll(): void {
    if (this.unacked.size === 0) return;
    const list = [...this.unacked.values()];
    this.unacked.clear();
    this.unackedCount = 0;
    const touched = new Set<ConsumerQueue>();
    for (let i = list.length - 1; i >= 0; i--) {
      const qm = list[i]!;
      const q = qm.queue!;
      q.requeue(qm, qm.consumer);
      qm.consumer = null;
      touched.add(q);
    }
    for (const q of touched) if (!q.deleted) q.dispatch();
  }

  // ---- replicated metadata changes (cluster): later frames on this channel wait, in order

  hold(frame: Buffer): void {
    this.held.push(Buffer.from(frame));
  }

  /**
   * Waits for an operation done on another node (a remote queue): later frames on this channel wait, in order.
   * A failure closes the channel (404 when the queue's node is down, 403 for exclusive use).
   */
  private awaitAsync<T>(p: Promise<T>, ok: (v: T) => void, failed?: () => void): void {
    this.holding = true;
    p.then(
      (v) => {
        if (this.state === State.Open) ok(v);
        this.release();
      },
      (err: unknown) => {
        failed?.();
        if (this.state === State.Open && err instanceof ChannelError) this.closeWithError(err);
        else if (this.state === State.Open) {
          const text = (err as Error).message.replace(/^.*?(ACCESS_REFUSED|NOT_FOUND) - /, '$1 - ');
          const code = text.startsWith('ACCESS_REFUSED') ? REPLY.ACCESS_REFUSED : REPLY.NOT_FOUND;
          this.closeWithError(new ChannelError(code, text.replace(/^(ACCESS_REFUSED|NOT_FOUND) - /, '')));
        }
        this.release();
      },
    );
  }

  /** Runs a metadata change through the broker (replicated in a cluster); replies with ok() once it is applied. */
  private awaitChange(cmd: MetaCommand, ok: () => void): void {
    const broker = this.conn.broker;
    if (broker.replicator === null) {
      broker.applyMeta(cmd);
      ok();
      return;
    }
    this.holding = true;
    broker.replicator.propose(cmd).then(
      () => {
        if (this.state === State.Open) ok();
        this.release();
      },
      (err: unknown) => {
        if (this.state === State.Open) {
          const e = err instanceof ChannelError ? err : new ChannelError(REPLY.INTERNAL_ERROR, (err as Error).message);
          this.closeWithError(e);
        }
        this.release();
      },
    );
  }

  private release(): void {
    this.holding = false;
    const frames = this.held;
    this.held = [];
    if (frames.length > 0) this.conn.replayFrames(frames);
    this.conn.scheduleFlush();
  }

  // ---- permissions (RabbitMQ access control: configure / write / read regexes per user and vhost)

  check(kind: PermissionKind, type: 'queue' | 'exchange', name: string): void {
    const perm = this.conn.perm;
    const n = type === 'exchange' && name === '' ? 'amq.default' : name;
    if (perm === null || !perm[kind].test(n)) {
      throw accessRefused(`${kind} access to ${type} '${n}' in vhost '${this.conn.vhost!.name}' refused for user '${this.conn.user!.name}'`);
    }
  }

  // ---- exchange class

  private exDeclare(a: M.ExchangeDeclare): void {
    const vh = this.conn.vhost!;
    // RabbitMQ's order (rabbit_channel exchange.declare): the type, the default exchange, permissions, then the name
    if (!a.passive) vh.checkExchangeType(a.type);
    if (a.exchange === '') throw accessRefused(`operation not permitted on the default exchange`);
    if (!a.passive) this.check('configure', 'exchange', a.exchange);
    const reply = (): void => {
      if (a.nowait) return;
      M.encodeExchangeDeclareOk(this.conn.writer, this.id);
      this.conn.scheduleFlush();
    };
    if (a.passive || vh.exchanges.has(a.exchange) || this.conn.broker.replicator === null) {
      vh.declareExchange(a.exchange, a.type, a.durable, a.autoDelete, a.internal, a.arguments, a.passive);
      return reply();
    }
    vh.checkNewExchange(a.exchange, a.type);
    this.awaitChange({ op: 'exchange.declare', vhost: vh.name, name: a.exchange, type: a.type, durable: a.durable, autoDelete: a.autoDelete, internal: a.internal, args: a.arguments }, reply);
  }

  private exDelete(a: M.ExchangeDelete): void {
    this.check('configure', 'exchange', a.exchange);
    const vh = this.conn.vhost!;
    const reply = (): void => {
      if (a.nowait) return;
      M.encodeExchangeDeleteOk(this.conn.writer, this.id);
      this.conn.scheduleFlush();
    };
    if (this.conn.broker.replicator === null || !vh.exchanges.has(a.exchange)) {
      vh.deleteExchange(a.exchange, a.ifUnused);
      return reply();
    }
    vh.checkDeleteExchange(a.exchange, a.ifUnused);
    this.awaitChange({ op: 'exchange.delete', vhost: vh.name, name: a.exchange }, reply);
  }

  private bindingExists(source: string, dest: Queue | Exchange | undefined, routingKey: string, args: M.ExchangeBind['arguments']): boolean {
    const ex = this.conn.vhost!.exchanges.get(source);
    return ex !== undefined && dest !== undefined && ex.bindings.has(bindingKey(dest, routingKey, args));
  }

  private exBind(a: M.ExchangeBind, unbind: boolean): void {
    const vh = this.conn.vhost!;
    this.check('write', 'exchange', a.destination);
    this.check('read', 'exchange', a.source);
    // RabbitMQ's order (rabbit_channel binding_action): the default exchange on either end, then the source missing,
    // then the destination missing
    if (a.destination === '' || a.source === '') throw accessRefused(`operation not permitted on the default exchange`);
    const reply = (): void => {
      if (a.nowait) return;
      if (unbind) M.encodeExchangeUnbindOk(this.conn.writer, this.id);
      else M.encodeExchangeBindOk(this.conn.writer, this.id);
      this.conn.scheduleFlush();
    };
    // unbinding what does not exist (the binding, its source or its destination) succeeds, as in RabbitMQ 3.10
    if (unbind && !this.bindingExists(a.source, vh.exchanges.get(a.destination), a.routingKey, a.arguments)) return reply();
    const src = vh.getExchange(a.source);
    const dest = vh.getExchange(a.destination);
    if (this.conn.broker.replicator === null) {
      if (unbind) vh.unbind(src, dest, a.routingKey, a.arguments);
      else vh.bind(src, dest, a.routingKey, a.arguments);
      return reply();
    }
    if (src.name === '') throw accessRefused(`operation not permitted on the default exchange`);
    this.awaitChange({ op: unbind ? 'unbind' : 'bind', vhost: vh.name, source: src.name, destKind: 'exchange', dest: dest.name, routingKey: a.routingKey, args: a.arguments }, reply);
  }

  // ---- queue class

  /** AMQP 0-9-1 §1.7.2: an empty queue name means the queue last declared on this channel. */
  private queueName(name: string): string {
    if (name !== '') return name;
    if (this.lastQueue === '') throw notFound('no previously declared queue');
    return this.lastQueue;
  }

  private qDeclare(a: M.QueueDeclare): void {
    const vh = this.conn.vhost!;
    const reply = (q: Queue): void => {
      this.lastQueue = q.name;
      if (a.nowait) return;
      // a queue mastered elsewhere: its master's counts (RabbitMQ's passive declare is how clients read a queue's
      // depth). A master that cannot be asked (its node down, a mirror being promoted) leaves them at this node's (0):
      // clients redeclare their queues when they reconnect, and a failover must not fail their declares
      const remote = this.conn.broker.elsewhere(q);
      if (remote !== null) {
        // a plain queue whose node is down (or its app stopped) answers 404 "home node ... is down or inaccessible",
        // as in RabbitMQ: its messages are there, not here
        const counts = remote.info(q, true).catch((err: Error) => {
          if (!q.mirroredByPolicy && /home node .* is down or inaccessible/.test(err.message)) throw err;
          return q.counts();
        });
        return this.awaitAsync(counts, (c) => {
          M.encodeQueueDeclareOk(this.conn.writer, this.id, q.name, c.ready, c.consumers);
          this.conn.scheduleFlush();
        });
      }
      M.encodeQueueDeclareOk(this.conn.writer, this.id, q.name, q.messageCount, q.consumerCount);
      this.conn.scheduleFlush();
    };
    // a server-named queue is checked under its generated name, as RabbitMQ does
    const given = a.passive ? this.queueName(a.queue) : a.queue === '' ? vh.serverName() : a.queue;
    if (!a.passive) this.check('configure', 'queue', given);
    const d = { name: given, durable: a.durable, exclusive: a.exclusive, autoDelete: a.autoDelete, arguments: a.arguments, passive: a.passive, owner: this.conn.id, serverNamed: a.queue === '' };
    if (a.passive || vh.queues.has(given) || this.conn.broker.replicator === null) {
      return reply(vh.declareQueue(d));
    }
    const name = vh.checkNewQueue(d);
    this.awaitChange({ op: 'queue.declare', vhost: vh.name, name, durable: a.durable, exclusive: a.exclusive, autoDelete: a.autoDelete, args: a.arguments, node: this.conn.broker.opts.nodeName, owner: this.conn.id }, () => {
      const q = vh.queues.get(name);
      if (q) reply(q);
    });
  }

  private qBind(a: M.QueueBind, unbind: boolean): void {
    const vh = this.conn.vhost!;
    const qname = this.queueName(a.queue);
    this.check('write', 'queue', qname);
    this.check('read', 'exchange', a.exchange);
    // RabbitMQ's order: the default exchange, the exchange missing, the queue missing, then exclusive use
    if (a.exchange === '') throw accessRefused(`operation not permitted on the default exchange`);
    const reply = (): void => {
      if (unbind) M.encodeQueueUnbindOk(this.conn.writer, this.id);
      else if (!(a as M.QueueBind).nowait) M.encodeQueueBindOk(this.conn.writer, this.id);
      this.conn.scheduleFlush();
    };
    // unbinding a binding that does not exist succeeds before any other check (exclusive use), as in RabbitMQ 3.10
    if (unbind && !this.bindingExists(a.exchange, vh.queues.get(qname), a.routingKey, a.arguments)) return reply();
    const ex = vh.getExchange(a.exchange);
    const q = vh.getQueue(qname, this.conn.id);
    // AMQP 0-9-1 queue.bind: with the current queue and an empty key, the key is the queue's name
    if (a.queue === '' && a.routingKey === '') a = { ...a, routingKey: q.name };
    if (this.conn.broker.replicator === null) {
      if (unbind) vh.unbind(ex, q, a.routingKey, a.arguments);
      else vh.bind(ex, q, a.routingKey, a.arguments);
      return reply();
    }
    if (ex.name === '') throw accessRefused(`operation not permitted on the default exchange`);
    this.awaitChange({ op: unbind ? 'unbind' : 'bind', vhost: vh.name, source: ex.name, destKind: 'queue', dest: q.name, routingKey: a.routingKey, args: a.arguments }, reply);
  }

  private qPurge(a: M.QueuePurge): void {
    const qname = this.queueName(a.queue);
    this.check('read', 'queue', qname);
    const q = this.conn.vhost!.getQueue(qname, this.conn.id);
    const remote = this.conn.broker.elsewhere(q);
    if (remote !== null) {
      return this.awaitAsync(remote.purge(q), (n) => {
        if (a.nowait) return;
        M.encodeQueuePurgeOk(this.conn.writer, this.id, n);
        this.conn.scheduleFlush();
      });
    }
    const n = q.purge();
    if (!a.nowait) {
      M.encodeQueuePurgeOk(this.conn.writer, this.id, n);
      this.conn.scheduleFlush();
    }
  }

  private qDelete(a: M.QueueDelete): void {
    const qname = this.queueName(a.queue);
    this.check('configure', 'queue', qname);
    const vh = this.conn.vhost!;
    const q = vh.queues.get(qname);
    const reply = (n: number): void => {
      if (a.nowait) return;
      M.encodeQueueDeleteOk(this.conn.writer, this.id, n);
      this.conn.scheduleFlush();
    };
    if (!q) return reply(0);
    vh.checkExclusive(q, this.conn.id);
    if (this.conn.broker.replicator === null) return reply(vh.deleteQueue(q, a.ifUnused, a.ifEmpty));
    const remote = this.conn.broker.elsewhere(q);
    if (remote !== null) {
      // if-unused and if-empty are about the master's consumers and messages (none are here); without them, a master
      // that cannot be asked only leaves the count unknown (0), and the queue is deleted as before
      const replicator = this.conn.broker.replicator;
      const counts = a.ifUnused || a.ifEmpty ? remote.info(q) : remote.info(q).catch(() => q.counts());
      const deleted = counts.then((c) => {
        vh.checkDeleteQueue(q, a.ifUnused, a.ifEmpty, c);
        return replicator.propose({ op: 'queue.delete', vhost: vh.name, name: q.name }).then(
          () => c.ready,
          (err: unknown) => {
            throw err instanceof ChannelError ? err : new ChannelError(REPLY.INTERNAL_ERROR, (err as Error).message);
          },
        );
      });
      return this.awaitAsync(deleted, reply);
    }
    vh.checkDeleteQueue(q, a.ifUnused, a.ifEmpty);
    const n = q.messageCount;
    this.awaitChange({ op: 'queue.delete', vhost: vh.name, name: q.name }, () => reply(n));
  }

  // ---- basic class: qos, consume, cancel

  private bQos(a: M.BasicQos): void {
    if (a.prefetchSize !== 0) throw notImplemented(`prefetch_size!=0 (${a.prefetchSize})`);
    // RabbitMQ reinterprets global: false = per consumer (new consumers), true = shared by the channel
    if (a.global) this.globalPrefetch = a.prefetchCount;
    else this.prefetchCount = a.prefetchCount;
    M.encodeBasicQosOk(this.conn.writer, this.id);
    this.conn.scheduleFlush();
    if (a.global) this.resumeConsumers();
  }

  private bConsume(a: M.BasicConsume): void {
    const vh = this.conn.vhost!;
    if (a.queue === REPLY_TO_QUEUE) return this.consumeReplies(a);
    // RabbitMQ checks the tag before the queue (rabbit_channel basic.consume)
    let tag = a.consumerTag;
    if (tag === '') tag = `amq.ctag-${randomBytes(16).toString('base64url').slice(0, 22)}`;
    else if (this.consumers.has(tag)) throw notAllowed(`attempt to reuse consumer tag '${tag}'`);
    const qname = this.queueName(a.queue);
    this.check('read', 'queue', qname);
    const q = vh.getQueue(qname, this.conn.id);
    const remote = this.conn.broker.remoteQueues;
    if (q.node !== this.conn.broker.localNode && remote !== null) {
      // the queue lives on another node: subscribe there; deliveries come back over the peer link. Later frames on
      // this channel wait until the subscription is in place, so the tag cannot be taken twice meanwhile.
      const consumed = remote.subscribe(q.node, vh.name, q.name, this, tag, a.noAck, a.exclusive, this.prefetchCount, a.arguments);
      this.awaitAsync(consumed, (c) => {
        this.consumers.set(tag, c);
        if (!a.nowait) {
          M.encodeBasicConsumeOk(this.conn.writer, this.id, tag);
          this.conn.scheduleFlush();
        }
        (c.queue as { activate?: () => void }).activate?.();
      });
      return;
    }
    // a single-active-consumer queue takes no exclusive consumer (RabbitMQ: exclusive_consume_unavailable)
    if (q.hasExclusiveConsumer() || (a.exclusive && (q.consumerCount > 0 || q.singleActiveConsumer))) {
      throw accessRefused(`queue '${q.name}' in vhost '${vh.name}' in exclusive use`);
    }
    const p = a.arguments['x-priority'];
    if (p !== undefined && typeof p !== 'number') throw preconditionFailed(`invalid x-priority argument`);
    const c = new Consumer(tag, q, this, a.noAck, a.exclusive, this.prefetchCount, a.arguments);
    this.consumers.set(tag, c);
    if (!a.nowait) {
      M.encodeBasicConsumeOk(this.conn.writer, this.id, tag);
      this.conn.scheduleFlush();
    }
    q.addConsumer(c);
  }

  private bCancel(a: M.BasicCancel): void {
    if (this.replyTag !== null && a.consumerTag === this.replyTag) this.stopReplies();
    const c = this.consumers.get(a.consumerTag);
    if (c) {
      this.consumers.delete(a.consumerTag);
      c.queue.removeConsumer(c);
    }
    if (!a.nowait) {
      M.encodeBasicCancelOk(this.conn.writer, this.id, a.consumerTag);
      this.conn.scheduleFlush();
    }
  }

  // ---- ConsumerChannel

  canDeliver(): boolean {
    return this.flowActive && !this.conn.congested && this.state === State.Open && (this.globalPrefetch === 0 || this.unackedCount < this.globalPrefetch);
  }

  deliver(c: Consumer, qm: QueuedMessage): void {
    const tag = ++this.deliveryTag;
    if (!c.noAck) {
      qm.consumer = c;
      qm.queue = c.queue;
      this.unacked.set(tag, qm);
      this.unackedCount++;
    }
    this.deliverCount++;
    const msg = qm.msg;
    const w = this.conn.writer;
    M.encodeBasicDeliver(w, this.id, c.tag, tag, qm.redelivered, msg.exchange, msg.routingKey);
    this.writeContent(msg);
    this.conn.scheduleFlush();
  }

  /** A consumer followed its mirrored queue to a new master: same tag, new attachment. */
  replaceConsumer(tag: string, c: Consumer): boolean {
    if (this.state !== State.Open || !this.consumers.has(tag)) return false;
    this.consumers.set(tag, c);
    return true;
  }

  consumerCancelledByServer(c: Consumer): void {
    this.consumers.delete(c.tag);
    if (this.state !== State.Open) return;
    if (this.conn.capabilities['consumer_cancel_notify'] === true) {
      M.encodeBasicCancel(this.conn.writer, this.id, c.tag, false);
      this.conn.scheduleFlush();
    }
  }

  resumeConsumers(): void {
    for (const c of this.consumers.values()) c.queue.dispatch();
  }

  private writeContent(msg: Message): void {
    const w = this.conn.writer;
    const body = msg.body;
    const start = w.beginFrame(FRAME_HEADER, this.id);
    w.long(0x003c0000); // class 60, weight 0
    w.longlong(body.length);
    if (msg.rawProperties !== null) w.raw(msg.rawProperties);
    else M.encodeProperties(w, msg.properties);
    w.endFrame(start);
    const max = this.conn.frameMax - 8;
    for (let off = 0; off < body.length; off += max) {
      const end = Math.min(body.length, off + max);
      const s = w.beginFrame(FRAME_BODY, this.id);
      w.raw(body, off, end);
      w.endFrame(s);
    }
  }

  // ---- basic.get

  private bGet(a: M.BasicGet): void {
    const qname = this.queueName(a.queue);
    this.check('read', 'queue', qname);
    const q = this.conn.vhost!.getQueue(qname, this.conn.id);
    const remote = this.conn.broker.remoteQueues;
    if (q.node !== this.conn.broker.localNode && remote !== null) {
      this.awaitAsync(remote.get(q.node, q.vhost, q.name, a.noAck), (got) => {
        const w = this.conn.writer;
        if (got === null) M.encodeBasicGetEmpty(w, this.id, '');
        else {
          const tag = ++this.deliveryTag;
          if (!a.noAck) {
            got.qm.consumer = null;
            got.qm.queue = got.target;
            this.unacked.set(tag, got.qm);
            this.unackedCount++;
          }
          M.encodeBasicGetOk(w, this.id, tag, got.qm.redelivered, got.qm.msg.exchange, got.qm.msg.routingKey, got.count);
          this.writeContent(got.qm.msg);
        }
        this.conn.scheduleFlush();
      });
      return;
    }
    const qm = q.get(a.noAck);
    const w = this.conn.writer;
    if (qm === undefined) {
      M.encodeBasicGetEmpty(w, this.id, '');
    } else {
      const tag = ++this.deliveryTag;
      if (!a.noAck) {
        qm.consumer = null;
        qm.queue = q;
        this.unacked.set(tag, qm);
        this.unackedCount++;
      }
      M.encodeBasicGetOk(w, this.id, tag, qm.redelivered, qm.msg.exchange, qm.msg.routingKey, q.messageCount);
      this.writeContent(qm.msg);
    }
    this.conn.scheduleFlush();
  }

  // ---- settlement: ack, nack, reject, recover

  private take(tag: number, multiple: boolean): QueuedMessage[] {
    const out: QueuedMessage[] = [];
    if (multiple) {
      // RabbitMQ: the named tag itself must be outstanding (0 means all)
      if (tag !== 0 && !this.unacked.has(tag)) throw preconditionFailed(`unknown delivery tag ${tag}`);
      for (const [t, qm] of this.unacked) {
        if (tag !== 0 && t > tag) break;
        out.push(qm);
        this.unacked.delete(t);
      }
    } else {
      const qm = this.unacked.get(tag);
      if (qm === undefined) throw preconditionFailed(`unknown delivery tag ${tag}`);
      this.unacked.delete(tag);
      out.push(qm);
    }
    this.unackedCount -= out.length;
    return out;
  }

  private ackOne(tag: number, multiple: boolean): void {
    if (!multiple) {
      const qm = this.unacked.get(tag);
      if (qm === undefined) throw preconditionFailed(`unknown delivery tag ${tag}`);
      this.unacked.delete(tag);
      this.unackedCount--;
      this.ackCount++;
      const c = qm.consumer;
      qm.queue!.ack(qm, c);
      qm.consumer = null;
      if (c !== null) c.queue.dispatch();
      else if (this.globalPrefetch !== 0) this.resumeConsumers();
      return;
    }
    const list = this.take(tag, true);
    const touched = new Set<ConsumerQueue>();
    for (const qm of list) {
      qm.queue!.ack(qm, qm.consumer);
      touched.add(qm.queue!);
      qm.consumer = null;
    }
    this.ackCount += list.length;
    for (const q of touched) q.dispatch();
  }

  private settle(tag: number, multiple: boolean, requeue: boolean): void {
    const list = this.take(tag, multiple);
    const touched = new Set<ConsumerQueue>();
    if (requeue) {
      for (let i = list.length - 1; i >= 0; i--) {
        const qm = list[i]!;
        qm.queue!.requeue(qm, qm.consumer);
        qm.consumer = null;
        touched.add(qm.queue!);
      }
    } else {
      for (const qm of list) {
        qm.queue!.reject(qm, qm.consumer);
        qm.consumer = null;
        touched.add(qm.queue!);
      }
    }
    for (const q of touched) if (!q.deleted) q.dispatch();
  }

  /** In a transaction, settlements are checked when they arrive and applied at commit (RabbitMQ). */
  private checkTag(tag: number, multiple: boolean): void {
    if (!(multiple && tag === 0) && !this.unacked.has(tag)) throw preconditionFailed(`unknown delivery tag ${tag}`);
  }

  private bAck(a: M.BasicAck): void {
    if (this.tx) {
      this.checkTag(a.deliveryTag, a.multiple);
      this.txOps.push({ kind: 'ack', tag: a.deliveryTag, multiple: a.multiple });
      return;
    }
    this.ackOne(a.deliveryTag, a.multiple);
  }

  private bNack(a: M.BasicNack): void {
    if (this.tx) {
      this.checkTag(a.deliveryTag, a.multiple);
      this.txOps.push({ kind: 'nack', tag: a.deliveryTag, multiple: a.multiple, requeue: a.requeue });
      return;
    }
    this.settle(a.deliveryTag, a.multiple, a.requeue);
  }

  private bReject(a: M.BasicReject): void {
    if (this.tx) {
      this.checkTag(a.deliveryTag, false);
      this.txOps.push({ kind: 'reject', tag: a.deliveryTag, multiple: false, requeue: a.requeue });
      return;
    }
    this.settle(a.deliveryTag, false, a.requeue);
  }

  private bRecover(a: M.BasicRecover, async: boolean): void {
    // RabbitMQ implements only requeue=true
    if (!a.requeue) throw notImplemented('requeue=false');
    this.requeueAll();
    if (!async) {
      M.encodeBasicRecoverOk(this.conn.writer, this.id);
      this.conn.scheduleFlush();
    }
  }

  // ---- publish: method, header, body (AMQP 0-9-1 §4.2.6)

  private bPublish(a: M.BasicPublish): void {
    // RabbitMQ refuses immediate before it looks at the exchange (a missing one too)
    if (a.immediate) throw notImplemented('immediate=true');
    const vh = this.conn.vhost!;
    const ex = vh.exchanges.get(a.exchange);
    if (ex === undefined) throw notFound(`no exchange '${a.exchange}' in vhost '${vh.name}'`);
    this.check('write', 'exchange', a.exchange);
    if (ex.internal) throw accessRefused(`cannot publish to internal exchange '${a.exchange}' in vhost '${vh.name}'`);
    this.conn.publisher = true;
    this.pubExchange = ex;
    // a publisher mostly repeats its routing key: keep one string for all its queued messages, not one each
    this.pubRoutingKey = a.routingKey === this.pubRoutingKey ? this.pubRoutingKey : a.routingKey;
    this.pubMandatory = a.mandatory;
    this.expect = Expect.Header;
  }

  onHeader(buf: Buffer, start: number, end: number): void {
    if (this.state !== State.Open) return;
    if (this.expect !== Expect.Header) throw unexpectedFrame(`content header on channel ${this.id} without basic.publish`);
    if (end - start < 14) throw new ConnectionError(REPLY.FRAME_ERROR, 'content header frame too short');
    const classId = buf.readUInt16BE(start);
    if (classId !== 60) throw unexpectedFrame(`content header for class ${classId}`);
    const hi = buf.readUInt32BE(start + 4);
    const size = hi * 0x1_0000_0000 + buf.readUInt32BE(start + 8);
    const flags = buf.readUInt16BE(start + 12);
    if (flags === 0) {
      // no properties: every such message shares one (frozen) empty object
      this.pubProps = NO_PROPERTIES;
      this.pubRawProps = EMPTY_PROPERTIES;
    } else if (this.lastRawProps.length === end - start - 12 && buf.compare(this.lastRawProps, 0, end - start - 12, start + 12, end) === 0) {
      // the same bytes as the previous message's: share its (never mutated) properties object and raw bytes
      this.pubProps = this.lastProps;
      this.pubRawProps = this.lastRawProps;
    } else {
      this.pubProps = M.decodeProperties(this.headerReader.reset(buf, start + 14, end), flags);
      const raw = Buffer.allocUnsafe(end - start - 12);
      buf.copy(raw, 0, start + 12, end);
      this.pubRawProps = raw;
      this.lastProps = this.pubProps;
      this.lastRawProps = raw;
    }
    if (size > MAX_MESSAGE_SIZE) {
      this.expect = Expect.Method;
      throw preconditionFailed(`message size ${size} is larger than configured max size ${MAX_MESSAGE_SIZE}`);
    }
    this.pubBodySize = size;
    this.pubReceived = 0;
    if (size === 0) {
      this.pubBody = Buffer.alloc(0);
      this.expect = Expect.Method;
      this.publishComplete();
    } else {
      this.pubBody = null;
      this.expect = Expect.Body;
    }
  }

  onBody(buf: Buffer, start: number, end: number): void {
    if (this.state !== State.Open) return;
    if (this.expect !== Expect.Body) throw unexpectedFrame(`content body on channel ${this.id} without a content header`);
    const n = end - start;
    if (this.pubReceived + n > this.pubBodySize) throw unexpectedFrame(`content body exceeds the size in its header (${this.pubBodySize})`);
    if (this.pubReceived === 0 && n === this.pubBodySize && n >= VIEW_MIN_BODY_BYTES) {
      // the whole body in one frame: a view of the read buffer, which the frame reader never reuses (zero copy)
      this.pubBody = buf.subarray(start, end);
    } else {
      if (this.pubBody === null) this.pubBody = Buffer.allocUnsafe(this.pubBodySize);
      buf.copy(this.pubBody, this.pubReceived, start, end);
    }
    this.pubReceived += n;
    if (this.pubReceived === this.pubBodySize) {
      this.expect = Expect.Method;
      this.publishComplete();
    }
  }

  private publishComplete(): void {
    const ex = this.pubExchange!;
    const msg = new Message(ex.name, this.pubRoutingKey, this.pubProps, this.pubRawProps, this.pubBody!, Date.now());
    this.pubBody = null;
    this.publishCount++;
    if (msg.properties.replyTo === REPLY_TO_QUEUE) {
      if (this.replyTag === null) throw preconditionFailed('fast reply consumer does not exist');
      msg.properties = { ...msg.properties, replyTo: `${REPLY_TO_QUEUE}.${this.replyToken}` };
      msg.rawProperties = null;
    }
    const exp = msg.properties.expiration;
    if (exp !== undefined && !/^\d{1,15}$/.test(exp)) throw preconditionFailed(`invalid expiration '${exp}'`);
    const userId = msg.properties.userId;
    if (userId !== undefined && userId !== this.conn.user!.name) {
      throw preconditionFailed(`user_id property set to '${userId}' but authenticated user was '${this.conn.user!.name}'`);
    }
    if (this.tx) {
      this.txOps.push({ kind: 'publish', exchange: ex, msg, mandatory: this.pubMandatory });
      return;
    }
    this.route(ex, msg, this.pubMandatory);
  }

  private route(ex: Exchange, msg: Message, mandatory: boolean): void {
    const seq = this.confirm ? ++this.publishSeq : 0;
    const r = this.conn.vhost!.publish(ex, msg, this.confirm ? this : null, seq);
    if (r.congested !== null) this.conn.flowBlock(r.congested);
    if (r.routed === 0 && r.rejected === 0 && mandatory) this.basicReturn(msg, REPLY.NO_ROUTE, 'NO_ROUTE');
    if (!this.confirm) return;
    if (r.rejected > 0) {
      M.encodeBasicNack(this.conn.writer, this.id, seq, false, false);
      this.nacked.push(seq);
      this.conn.scheduleFlush();
      this.scheduleConfirms();
      return;
    }
    const waits = pendingConfirmations(r.needsDisk, r.remoteWaits);
    if (waits > 0) {
      this.pendingDisk.set(seq, waits);
      if (r.needsDisk) this.conn.broker.messageStore.whenDurable(this, seq);
    } else this.scheduleConfirms();
  }

  private basicReturn(msg: Message, code: number, text: string): void {
    M.encodeBasicReturn(this.conn.writer, this.id, code, text, msg.exchange, msg.routingKey);
    this.writeContent(msg);
    this.conn.scheduleFlush();
  }

  // ---- confirms

  private cSelect(a: M.ConfirmSelect): void {
    if (this.tx) throw preconditionFailed('cannot switch from tx to confirm mode');
    this.confirm = true;
    if (!a.nowait) {
      M.encodeConfirmSelectOk(this.conn.writer, this.id);
      this.conn.scheduleFlush();
    }
  }

  onDurable(seq: number): void {
    const n = this.pendingDisk.get(seq);
    if (n === undefined) return;
    if (n > 1) this.pendingDisk.set(seq, n - 1);
    else {
      this.pendingDisk.delete(seq);
      if (this.state === State.Draining) {
        if (this.pendingDisk.size === 0) this.finishClose();
      } else this.scheduleConfirms();
    }
  }

  onNack(seq: number): void {
    if (!this.pendingDisk.delete(seq) || this.state === State.Closing) return;
    M.encodeBasicNack(this.conn.writer, this.id, seq, false, false);
    // keep nacked ascending: a later multiple ack must step over it
    let i = this.nacked.length;
    while (i > 0 && this.nacked[i - 1]! > seq) i--;
    this.nacked.splice(i, 0, seq);
    this.conn.scheduleFlush();
    if (this.state === State.Draining) {
      if (this.pendingDisk.size === 0) this.finishClose();
    } else this.scheduleConfirms();
  }

  private scheduleConfirms(): void {
    if (this.confirmScheduled) return;
    this.confirmScheduled = true;
    process.nextTick(this.confirmBound);
  }

  /** One basic.ack with multiple=true covering every confirmed sequence number below the oldest still on its way to disk. */
  private flushConfirms(): void {
    this.confirmScheduled = false;
    if (this.state === State.Closing) return;
    let upTo = this.publishSeq;
    if (this.pendingDisk.size > 0) {
      const first = this.pendingDisk.keys().next().value as number;
      upTo = first - 1;
    }
    if (upTo <= this.lastConfirmed) return;
    // ack the ranges between nacked sequence numbers, so no message is confirmed twice
    let from = this.lastConfirmed;
    while (this.nacked.length > 0 && this.nacked[0]! <= upTo) {
      const n = this.nacked.shift()!;
      if (n - 1 > from) M.encodeBasicAck(this.conn.writer, this.id, n - 1, n - 1 - from > 1);
      from = n;
    }
    if (upTo > from) M.encodeBasicAck(this.conn.writer, this.id, upTo, upTo - from > 1);
    this.lastConfirmed = upTo;
    this.conn.scheduleFlush();
  }

  // ---- transactions (AMQP 0-9-1 §1.9.2)

  private txSelect(): void {
    if (this.confirm) throw preconditionFailed('cannot switch from confirm to tx mode');
    this.tx = true;
    M.encodeTxSelectOk(this.conn.writer, this.id);
    this.conn.scheduleFlush();
  }

  /**
   * tx.commit-ok goes out once every message of the transaction is as safe as a publisher confirm would make it (on
   * this node's disc when persistent in a durable queue, with queues on other nodes, with every synchronised mirror);
   * later frames on the channel wait, in order. A message that could not be stored (the disc failed, a mirror or
   * queue node was lost) closes the channel with 541 INTERNAL_ERROR instead: the commit is not known to be safe.
   */
  private txCommit(): void {
    if (!this.tx) throw preconditionFailed('channel is not transactional');
    const ops = this.txOps;
    this.txOps = [];
    const safe = new CommitWaiter();
    for (const op of ops) {
      if (op.kind === 'publish') this.routeTx(op.exchange!, op.msg!, op.mandatory!, safe);
      else if (op.kind === 'ack') this.ackOne(op.tag!, op.multiple!);
      else this.settle(op.tag!, op.multiple!, op.requeue!);
    }
    if (safe.outstanding === 0) {
      M.encodeTxCommitOk(this.conn.writer, this.id);
      this.conn.scheduleFlush();
      return;
    }
    this.awaitAsync(safe.settled(), () => M.encodeTxCommitOk(this.conn.writer, this.id));
  }

  private routeTx(ex: Exchange, msg: Message, mandatory: boolean, safe: CommitWaiter): void {
    const r = this.conn.vhost!.publish(ex, msg, safe, 0);
    if (r.congested !== null) this.conn.flowBlock(r.congested);
    if (r.routed === 0 && r.rejected === 0 && mandatory) this.basicReturn(msg, REPLY.NO_ROUTE, 'NO_ROUTE');
    // (a queue refusing a message by its overflow setting drops it silently without confirms, as RabbitMQ does)
    safe.outstanding += pendingConfirmations(r.needsDisk, r.remoteWaits);
    if (r.needsDisk) this.conn.broker.messageStore.whenDurable(safe, 0);
  }

  private txRollback(): void {
    if (!this.tx) throw preconditionFailed('channel is not transactional');
    this.txOps = [];
    M.encodeTxRollbackOk(this.conn.writer, this.id);
    this.conn.scheduleFlush();
  }

  static {
    const h = HANDLERS;
    h.set(M.CHANNEL_CLOSE, (c) => c.chClose());
    h.set(M.CHANNEL_CLOSE_OK, (c) => c.conn.channelClosed(c.id));
    h.set(M.CHANNEL_FLOW, (c, a) => c.chFlow(a as M.ChannelFlow));
    h.set(M.CHANNEL_FLOW_OK, () => {});
    h.set(M.EXCHANGE_DECLARE, (c, a) => c.exDeclare(a as M.ExchangeDeclare));
    h.set(M.EXCHANGE_DELETE, (c, a) => c.exDelete(a as M.ExchangeDelete));
    h.set(M.EXCHANGE_BIND, (c, a) => c.exBind(a as M.ExchangeBind, false));
    h.set(M.EXCHANGE_UNBIND, (c, a) => c.exBind(a as M.ExchangeBind, true));
    h.set(M.QUEUE_DECLARE, (c, a) => c.qDeclare(a as M.QueueDeclare));
    h.set(M.QUEUE_BIND, (c, a) => c.qBind(a as M.QueueBind, false));
    h.set(M.QUEUE_UNBIND, (c, a) => c.qBind(a as M.QueueBind, true));
    h.set(M.QUEUE_PURGE, (c, a) => c.qPurge(a as M.QueuePurge));
    h.set(M.QUEUE_DELETE, (c, a) => c.qDelete(a as M.QueueDelete));
    h.set(M.BASIC_QOS, (c, a) => c.bQos(a as M.BasicQos));
    h.set(M.BASIC_CONSUME, (c, a) => c.bConsume(a as M.BasicConsume));
    h.set(M.BASIC_CANCEL, (c, a) => c.bCancel(a as M.BasicCancel));
    h.set(M.BASIC_CANCEL_OK, () => {});
    h.set(M.BASIC_PUBLISH, (c, a) => c.bPublish(a as M.BasicPublish));
    h.set(M.BASIC_GET, (c, a) => c.bGet(a as M.BasicGet));
    h.set(M.BASIC_ACK, (c, a) => c.bAck(a as M.BasicAck));
    h.set(M.BASIC_NACK, (c, a) => c.bNack(a as M.BasicNack));
    h.set(M.BASIC_REJECT, (c, a) => c.bReject(a as M.BasicReject));
    h.set(M.BASIC_RECOVER, (c, a) => c.bRecover(a as M.BasicRecover, false));
    h.set(M.BASIC_RECOVER_ASYNC, (c, a) => c.bRecover(a as M.BasicRecover, true));
    h.set(M.CONFIRM_SELECT, (c, a) => c.cSelect(a as M.ConfirmSelect));
    h.set(M.TX_SELECT, (c) => c.txSelect());
    h.set(M.TX_COMMIT, (c) => c.txCommit());
    h.set(M.TX_ROLLBACK, (c) => c.txRollback());
    h.set(M.ACCESS_REQUEST, (c) => {
      M.encodeAccessRequestOk(c.conn.writer, c.id, 1);
      c.conn.scheduleFlush();
    });
  }
}

/** Counts what a transaction's commit waits for (one object per commit, not per message). */
class CommitWaiter implements DurableWaiter {
  outstanding = 0;
  private failed = false;
  private resolve: (() => void) | null = null;
  private reject: ((err: Error) => void) | null = null;

  settled(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      this.check();
    });
  }

  onDurable(): void {
    this.outstanding--;
    this.check();
  }

  onNack(): void {
    this.outstanding--;
    this.failed = true;
    this.check();
  }

  private check(): void {
    if (this.outstanding > 0 || this.resolve === null) return;
    if (this.failed) this.reject!(new ChannelError(REPLY.INTERNAL_ERROR, 'tx.commit failed: a message of the transaction could not be stored (disc or mirror failure)'));
    else this.resolve();
    this.resolve = null;
  }
}
