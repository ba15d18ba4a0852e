// A classic queue: ready messages, consumers, TTL, length limits, dead-lettering, priorities.
// It never touches bytes on disk: persistent messages go through its QueueStore (STYLE: LavinMQ).
import type { FieldTable, FieldValue } from '../amqp/reader.ts';
import type { Destination } from '../routing/exchange.ts';
import type { DurableWaiter, QueueStore } from '../store/message-store.ts';
import { Level } from './level.ts';
import { Consumer, type ConsumerQueue } from './consumer.ts';
import { Message, QueuedMessage } from './message.ts';
import type { QueuePids } from './pids.ts';

export type DeadLetterReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

/** What a queue needs from its virtual host. */
export interface QueueHost {
  now(): number;
  /** Republishes a dead-lettered message through exchange `exchange`. */
  deadLetter(queue: Queue, msg: Message, reason: DeadLetterReason, exchange: string, routingKey: string | undefined): void;
  /** The queue deleted itself (auto-delete, x-expires). */
  queueAutoDeleted(queue: Queue): void;
  /** A line for the node's log. */
  log(line: string): void;
}

/** Receives every change to a queue's messages, in order: a master queue's mirrors are fed through it. */
export interface QueueMirror {
  /** counts the mirrors a publisher's confirm must wait for (0 or 1 wait) */
  track(waiter: DurableWaiter, token: number): number;
  added(qm: QueuedMessage): void;
  delivered(qm: QueuedMessage): void;
  removed(qm: QueuedMessage): void;
  /**
   * Called after added() when the queue has consumers: true if the mirror dispatches the queue itself, right after the
   * added messages went out to the mirrors (their frame is on the path of every publisher confirm; deliveries are not).
   */
  holdsDispatch(): boolean;
}

export interface QueueOptions {
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
  arguments: FieldTable;
  /** connection id of the exclusive owner */
  owner: number;
  /** the node the queue lives on (its messages and consumers are there) */
  node: string;
}

/** Effective queue settings from x-arguments and the applied policy (AMQP extensions, RabbitMQ semantics). */
export interface QueueLimits {
  messageTtl: number | undefined;
  expires: number | undefined;
  maxLength: number | undefined;
  maxLengthBytes: number | undefined;
  overflow: 'drop-head' | 'reject-publish' | 'reject-publish-dlx';
  deadLetterExchange: string | undefined;
  deadLetterRoutingKey: string | undefined;
  maxPriority: number;
}

/**
 * Flow control thresholds: a queue with consumers holding more ready messages than FLOW_HIGH stops reading from the
 * connections that publish to it until its consumers bring it below FLOW_LOW. High enough that a burst never
 * blocks, low enough that a publisher cannot run ahead of its consumers by more than a fraction of a second.
 */
export const QUEUE_FLOW_HIGH = 4000;
export const QUEUE_FLOW_LOW = 2000;
/** A held-back publisher is let go when the queue delivered nothing for this long. */
export const FLOW_STALL_CHECK_MS = 500;

export const enum EnqueueResult {
  Accepted,
  Rejected,
}

/** What a listing shows of a queue's state (list_queues): on another node, its master's figures. */
export interface QueueCounts {
  ready: number;
  unacked: number;
  readyBytes: number;
  consumers: number;
  /** message counters, as the queue's master keeps them */
  publish: number;
  deliver: number;
  ack: number;
  redeliver: number;
  /**
   * Per-second rates sampled on the master's node, when its management statistics run (a queue mastered on another
   * node shows these: this node's own samples of it are all zero).
   */
  rates?: QueueRates;
  /** the master's pid and its mirrors' (list_queues pid slave_pids), when it is mirrored or in a cluster */
  pids?: QueuePids;
}

/** The management API's rated series of a queue (its "..._details": {rate}). */
export const QUEUE_RATED = ['publish', 'deliver_get', 'ack', 'redeliver', 'messages', 'messages_ready', 'messages_unacknowledged'] as const;
export type QueueRates = Record<(typeof QUEUE_RATED)[number], number>;

/** A mirror's promotion: its master failed, or handed the queue over as its node shut down. */
export type PromotionReason = 'failure' | 'shutdown';

export class Queue implements Destination, ConsumerQueue {
  readonly kind = 'queue' as const;
  readonly name: string;
  readonly vhost: string;
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
  readonly owner: number;
  /** changes when a mirror is promoted */
  node: string;
  readonly host: QueueHost;
  store: QueueStore | null;
  /** set while this queue is a master with mirrors on other nodes */
  mirror: QueueMirror | null = null;
  /**
   * Replicated: the mirrors the metadata log records as holding every message of the current master. Only these may
   * be promoted (when-synced), and a master stops waiting for a mirror's confirms only once the log says it left.
   */
  syncedMirrors: readonly string[] = [];
  /** Replicated: promotions so far; a master's record of its synchronised mirrors counts only in its own epoch. */
  masterEpoch = 0;
  /** Replicated: version of syncedMirrors within the epoch (stale proposals are skipped). */
  mirrorsVersion = 0;

  counts(): QueueCounts {
    return {
      ready: this.messageCount,
      unacked: this.unackedCount,
      readyBytes: this.readyBytes,
      consumers: this.consumerCount,
      publish: this.publishCount,
      deliver: this.deliverCount,
      ack: this.ackCount,
      redeliver: this.redeliverCount,
    };
  }

  /** Whether a policy mirrors the queue (ha-mode): it has, or is to have, mirrors that can take over from its master. */
  get mirroredByPolicy(): boolean {
    return this.policy?.definition['ha-mode'] !== undefined;
  }

  /** Whether the policy lets a mirror that is not recorded as synchronised take over (ha-promote-on-failure/-shutdown: always). */
  promotesAlways(reason: PromotionReason): boolean {
    return this.policy?.definition[reason === 'shutdown' ? 'ha-promote-on-shutdown' : 'ha-promote-on-failure'] === 'always';
  }
  policy: { name: string; definition: FieldTable } | null = null;
  limits: QueueLimits;
  /** ready messages, one deque per priority level (index = priority) */
  private readonly levels: Level[];
  /** enqueue order, so returned messages go back to their place */
  private seq = 0;
  private readyCount = 0;
  readyBytes = 0;
  unackedCount = 0;
  readonly consumers: Consumer[] = [];
  /** publishing connections held back by this queue's backlog */
  readonly flowBlocked = new Set<{ flowRelease(q: Queue): void }>();
  private flowTimer: NodeJS.Timeout | null = null;
  /** deliverCount when consumers were found not to make progress, or -1 */
  private flowStalledAt = -1;
  private rr = 0;
  private hasPriorities = false;
  private readonly singleActive: boolean;
  private hadConsumer = false;
  deleted = false;
  private dispatching = false;
  private dispatchAgain = false;
  private ttlTimer: NodeJS.Timeout | null = null;
  private ttlTimerAt = Infinity;
  private expiresTimer: NodeJS.Timeout | null = null;
  // counters for management and metrics
  publishCount = 0;
  deliverCount = 0;
  ackCount = 0;
  redeliverCount = 0;

  constructor(vhost: string, name: string, opts: QueueOptions, host: QueueHost, store: QueueStore | null) {
    this.vhost = vhost;
    this.name = name;
    this.durable = opts.durable;
    this.exclusive = opts.exclusive;
    this.autoDelete = opts.autoDelete;
    this.arguments = opts.arguments;
    this.owner = opts.owner;
    this.node = opts.node;
    this.host = host;
    this.store = store;
    this.limits = computeLimits(opts.arguments, undefined);
    this.singleActive = opts.arguments['x-single-active-consumer'] === true;
    this.levels = [];
    for (let i = 0; i <= this.limits.maxPriority; i++) this.levels.push(new Level());
    this.touch();
  }

  get messageCount(): number {
    return this.readyCount;
  }

  get singleActiveConsumer(): boolean {
    return this.singleActive;
  }

  get consumerCount(): number {
    return this.consumers.length;
  }

  applyPolicy(policy: { name: string; definition: FieldTable } | null): void {
    this.policy = policy;
    const prevPriority = this.limits.maxPriority;
    this.limits = computeLimits(this.arguments, policy?.definition);
    // x-max-priority is fixed at declaration (RabbitMQ: not settable by policy)
    this.limits.maxPriority = prevPriority;
    this.enforceLength();
    this.touch();
    this.scheduleTtl();
  }

  /** Restores messages recovered from the store at boot. */
  restore(id: number, msg: Message, redelivered: boolean): void {
    const qm = new QueuedMessage(msg, id, this.expiryFor(msg, msg.timestamp), this.priorityOf(msg));
    qm.redelivered = redelivered;
    this.pushReady(qm);
  }

  /** Adds a routed message. Returns Rejected when x-overflow reject-publish refuses it. */
  enqueue(msg: Message): EnqueueResult {
    const l = this.limits;
    if (l.overflow !== 'drop-head' && this.overLimitWith(msg.body.length)) {
      if (l.overflow === 'reject-publish-dlx') this.deadLetterMessage(msg, 'maxlen');
      return EnqueueResult.Rejected;
    }
    const now = this.host.now();
    const expiresAt = this.expiryFor(msg, now);
    if (expiresAt <= now && this.readyCount === 0) {
      // expired on arrival (ttl 0) at the head: delivered only if a consumer can take it right now, else dropped.
      // Behind other messages it waits, counted, until it reaches the head, as in RabbitMQ (which looks at expiry
      // only at the head)
      this.publishCount++;
      const c = this.nextConsumer();
      if (c === undefined) {
        this.deadLetterMessage(msg, 'expired');
        return EnqueueResult.Accepted;
      }
      const id = this.store !== null && msg.properties.deliveryMode === 2 ? this.store.append(msg) : -1;
      // it keeps its expiry: requeued (a nack, its channel closing), it has expired and is dropped or dead-lettered,
      // as in RabbitMQ, not delivered again
      const now0 = new QueuedMessage(msg, id, expiresAt, this.priorityOf(msg));
      now0.seq = this.seq++;
      this.mirror?.added(now0);
      this.deliverTo(c, now0);
      return EnqueueResult.Accepted;
    }
    const id = this.store !== null && msg.properties.deliveryMode === 2 ? this.store.append(msg) : -1;
    const qm = new QueuedMessage(msg, id, expiresAt, this.priorityOf(msg));
    this.publishCount++;
    this.pushReady(qm);
    this.mirror?.added(qm);
    // a consumer ready for it takes it before the length limit applies: RabbitMQ hands a message to a waiting consumer
    // without queueing it (an x-max-length 0 queue still delivers to its consumers)
    if (this.consumers.length > 0 && (this.mirror === null || !this.mirror.holdsDispatch())) this.dispatch();
    if (l.overflow === 'drop-head') this.enforceLength();
    if (expiresAt !== Infinity) this.scheduleTtl();
    return EnqueueResult.Accepted;
  }

  private overLimitWith(bytes: number): boolean {
    const l = this.limits;
    return (l.maxLength !== undefined && this.readyCount + 1 > l.maxLength) ||
      (l.maxLengthBytes !== undefined && this.readyBytes + bytes > l.maxLengthBytes);
  }

  private enforceLength(): void {
    const l = this.limits;
    if (l.overflow !== 'drop-head') return;
    while (
      this.readyCount > 0 &&
      ((l.maxLength !== undefined && this.readyCount > l.maxLength) || (l.maxLengthBytes !== undefined && this.readyBytes > l.maxLengthBytes))
    ) {
      const qm = this.shiftReady()!;
      this.drop(qm, 'maxlen');
    }
  }

  private expiryFor(msg: Message, from: number): number {
    let ttl = this.limits.messageTtl;
    const exp = msg.properties.expiration;
    if (exp !== undefined) {
      const n = Number(exp);
      if (Number.isFinite(n) && n >= 0) ttl = ttl === undefined ? n : Math.min(ttl, n);
    }
    return ttl === undefined ? Infinity : from + ttl;
  }

  private priorityOf(msg: Message): number {
    const max = this.limits.maxPriority;
    if (max === 0) return 0;
    const p = msg.properties.priority ?? 0;
    return p > max ? max : p;
  }

  private pushReady(qm: QueuedMessage): void {
    qm.seq = this.seq++;
    this.levels[qm.priority]!.push(qm);
    this.readyCount++;
    this.readyBytes += qm.msg.body.length;
  }

  private shiftReady(): QueuedMessage | undefined {
    for (let p = this.levels.length - 1; p >= 0; p--) {
      const d = this.levels[p]!;
      if (d.length > 0) {
        const qm = d.shift()!;
        this.readyCount--;
        this.readyBytes -= qm.msg.body.length;
        return qm;
      }
    }
    return undefined;
  }

  private peekReady(): QueuedMessage | undefined {
    for (let p = this.levels.length - 1; p >= 0; p--) {
      const d = this.levels[p]!;
      if (d.length > 0) return d.peek();
    }
    return undefined;
  }

  /** Drops expired messages at the head (RabbitMQ expires from the head only). */
  private expireHead(now: number): void {
    for (;;) {
      const head = this.peekReady();
      if (head === undefined || head.expiresAt >= now) return;
      this.shiftReady();
      this.drop(head, 'expired');
    }
  }

  /** Removes a message for good, dead-lettering it when the queue has a dead-letter exchange. */
  drop(qm: QueuedMessage, reason: DeadLetterReason): void {
    this.gone(qm);
    this.deadLetterMessage(qm.msg, reason);
  }

  /** The message leaves the queue for good: out of the store and the mirrors. */
  private gone(qm: QueuedMessage): void {
    if (qm.storeId >= 0) this.store?.remove(qm.storeId);
    this.mirror?.removed(qm);
  }

  private firstDelivery(qm: QueuedMessage): void {
    if (qm.deliveryCount !== 0) return;
    if (qm.storeId >= 0) this.store?.delivered(qm.storeId);
    this.mirror?.delivered(qm);
  }

  private deadLetterMessage(msg: Message, reason: DeadLetterReason): void {
    const dlx = this.limits.deadLetterExchange;
    if (dlx === undefined) return;
    try {
      this.host.deadLetter(this, msg, reason, dlx, this.limits.deadLetterRoutingKey);
    } catch (err) {
      // Last resort: dead-lettering runs from timers (TTL) and from other queues' work, where a throw would end the
      // process, and a durable message would do it again on every restart. The one message is dropped instead, as
      // RabbitMQ's dead-lettering drops what it cannot route; the queue and the node go on.
      this.host.log(`queue '${this.name}': dead-lettering a message (${reason}) failed, message dropped: ${describeError(err)}`);
    }
  }

  // ---- consumers

  addConsumer(c: Consumer): void {
    // RabbitMQ serves consumers round robin from a queue a new consumer joins at the tail: here the round starts at
    // rr, so the tail is just before it (a single-active-consumer queue keeps them oldest first)
    const n = this.consumers.length;
    if (this.singleActive || n === 0) this.consumers.push(c);
    else {
      const at = this.rr % n;
      this.consumers.splice(at, 0, c);
      this.rr = at + 1;
    }
    if (c.priority !== 0) this.hasPriorities = true;
    this.hadConsumer = true;
    this.touch();
    this.dispatch();
  }

  removeConsumer(c: Consumer): void {
    const i = this.consumers.indexOf(c);
    if (i < 0) return;
    this.consumers.splice(i, 1);
    if (i < this.rr) this.rr--;
    this.hasPriorities = this.consumers.some((x) => x.priority !== 0);
    if (this.consumers.length === 0 && this.flowBlocked.size > 0) this.releaseFlow();
    this.touch();
    // AMQP 0-9-1 queue.declare auto-delete: deleted when the last consumer is cancelled
    if (this.autoDelete && this.hadConsumer && this.consumers.length === 0 && !this.deleted) this.host.queueAutoDeleted(this);
  }

  hasExclusiveConsumer(): boolean {
    return this.consumers.some((c) => c.exclusive);
  }

  private nextConsumer(): Consumer | undefined {
    const cs = this.consumers;
    if (this.singleActive) {
      // x-single-active-consumer: the oldest consumer gets everything; the next one takes over when it goes
      const c = cs[0];
      return c !== undefined && c.hasCapacity() ? c : undefined;
    }
    const n = cs.length;
    let best: Consumer | undefined;
    let bestIdx = 0;
    for (let i = 0; i < n; i++) {
      const idx = (this.rr + i) % n;
      const c = cs[idx]!;
      if (!c.hasCapacity()) continue;
      if (best === undefined || c.priority > best.priority) {
        best = c;
        bestIdx = idx;
        if (!this.hasPriorities) break;
      }
    }
    if (best !== undefined) this.rr = bestIdx + 1;
    return best;
  }

  /** Delivers ready messages to consumers with capacity. Re-entrant calls are folded into the running loop. */
  dispatch(): void {
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    this.dispatching = true;
    try {
      do {
        this.dispatchAgain = false;
        let now = 0;
        let checkTtl = false;
        while (this.readyCount > 0 && this.consumers.length > 0) {
          const head = this.peekReady()!;
          if (head.expiresAt !== Infinity) {
            if (!checkTtl) {
              now = this.host.now();
              checkTtl = true;
            }
            if (head.expiresAt < now) {
              this.expireHead(now);
              continue;
            }
          }
          const c = this.nextConsumer();
          if (c === undefined) break;
          const qm = this.shiftReady()!;
          this.deliverTo(c, qm);
        }
      } while (this.dispatchAgain);
    } finally {
      this.dispatching = false;
    }
    if (this.flowBlocked.size > 0 && this.readyCount < QUEUE_FLOW_LOW) this.releaseFlow();
  }

  /** true when publishers to this queue should be held back: a backlog that consumers are working through */
  get overFlowLimit(): boolean {
    if (this.readyCount <= QUEUE_FLOW_HIGH || this.consumers.length === 0) return false;
    if (this.flowStalledAt >= 0) {
      // consumers that stopped taking messages (prefetch full, never acking) must not stall publishers forever
      if (this.deliverCount === this.flowStalledAt) return false;
      this.flowStalledAt = -1;
    }
    return true;
  }

  /** Registers a publisher held back by this queue; if consumers stop making progress it is let go. */
  holdPublisher(c: { flowRelease(q: Queue): void }): void {
    this.flowBlocked.add(c);
    if (this.flowTimer !== null) return;
    let seen = this.deliverCount;
    this.flowTimer = setInterval(() => {
      if (this.flowBlocked.size === 0) return this.stopFlowTimer();
      if (this.deliverCount === seen) {
        this.flowStalledAt = this.deliverCount;
        this.releaseFlow();
      }
      seen = this.deliverCount;
    }, FLOW_STALL_CHECK_MS);
    this.flowTimer.unref();
  }

  private stopFlowTimer(): void {
    if (this.flowTimer) clearInterval(this.flowTimer);
    this.flowTimer = null;
  }

  releaseFlow(): void {
    this.stopFlowTimer();
    const list = [...this.flowBlocked];
    this.flowBlocked.clear();
    for (const c of list) c.flowRelease(this);
  }

  private deliverTo(c: Consumer, qm: QueuedMessage): void {
    this.handOut(qm, c.noAck);
    if (!c.noAck) c.unacked++;
    c.delivered++;
    c.channel.deliver(c, qm);
  }

  /** The bookkeeping of a message leaving the ready list for a consumer or basic.get. */
  private handOut(qm: QueuedMessage, noAck: boolean): void {
    this.deliverCount++;
    if (qm.redelivered) this.redeliverCount++;
    if (noAck) {
      this.gone(qm);
    } else {
      this.unackedCount++;
      this.firstDelivery(qm);
    }
    qm.deliveryCount++;
  }

  /** basic.get: the next ready message, or undefined. The caller records it as unacked unless noAck. */
  get(noAck: boolean): QueuedMessage | undefined {
    this.touch();
    this.expireHead(this.host.now());
    const qm = this.shiftReady();
    if (qm === undefined) return undefined;
    this.handOut(qm, noAck);
    return qm;
  }

  // ---- settlement (called by channels)

  ack(qm: QueuedMessage, consumer: Consumer | null): void {
    this.unackedCount--;
    this.ackCount++;
    if (consumer !== null) consumer.unacked--;
    this.gone(qm);
  }

  /** Rejected without requeue: dead-letter (reason rejected) or drop. */
  reject(qm: QueuedMessage, consumer: Consumer | null): void {
    this.unackedCount--;
    if (consumer !== null) consumer.unacked--;
    this.drop(qm, 'rejected');
  }

  /** Back to the head of the queue, redelivered. Does not dispatch: call dispatch() after a batch. */
  requeue(qm: QueuedMessage, consumer: Consumer | null): void {
    this.unackedCount--;
    if (consumer !== null) consumer.unacked--;
    if (this.deleted) return;
    qm.redelivered = true;
    this.levels[qm.priority]!.giveBack(qm);
    this.readyCount++;
    this.readyBytes += qm.msg.body.length;
    // length limits hold for requeued messages too (drop-head drops from the head, where they went back)
    this.enforceLength();
    // one that expired while it was out goes now (RabbitMQ drops expired messages from the head after a requeue)
    if (qm.expiresAt !== Infinity) {
      this.expireHead(this.host.now());
      this.scheduleTtl();
    }
  }

  purge(): number {
    const n = this.readyCount;
    if (this.flowBlocked.size > 0) queueMicrotask(() => this.releaseFlow());
    for (const d of this.levels) {
      for (const qm of d.clear()) this.gone(qm);
    }
    this.readyCount = 0;
    this.readyBytes = 0;
    return n;
  }

  /** Marks the queue deleted: cancels consumers and removes stored data. Returns the ready count. */
  destroy(): number {
    const n = this.readyCount;
    this.deleted = true;
    for (const d of this.levels) d.clear();
    this.readyCount = 0;
    this.readyBytes = 0;
    this.store?.destroy();
    this.store = null;
    for (const c of this.consumers.splice(0)) c.channel.consumerCancelledByServer(c);
    this.releaseFlow();
    if (this.ttlTimer) clearTimeout(this.ttlTimer);
    if (this.expiresTimer) clearTimeout(this.expiresTimer);
    this.ttlTimer = null;
    this.expiresTimer = null;
    return n;
  }

  /** Stops timers without touching stored data (node shutdown). */
  stop(): void {
    this.deleted = true;
    if (this.ttlTimer) clearTimeout(this.ttlTimer);
    if (this.expiresTimer) clearTimeout(this.expiresTimer);
    this.ttlTimer = null;
    this.expiresTimer = null;
  }

  /** Snapshot of ready messages (for management's get and sync). */
  readyMessages(): QueuedMessage[] {
    const out: QueuedMessage[] = [];
    for (let p = this.levels.length - 1; p >= 0; p--) out.push(...this.levels[p]!.toArray());
    return out;
  }

  // ---- timers

  /** x-expires: the queue is deleted after being unused (no consumers, no get, no redeclare) that long. */
  touch(): void {
    const ms = this.limits.expires;
    if (this.expiresTimer) {
      clearTimeout(this.expiresTimer);
      this.expiresTimer = null;
    }
    if (ms === undefined || this.deleted) return;
    if (this.consumers.length > 0) return;
    this.expiresTimer = setTimeout(() => {
      this.expiresTimer = null;
      try {
        if (!this.deleted && this.consumers.length === 0) this.host.queueAutoDeleted(this);
      } catch (err) {
        this.host.log(`queue '${this.name}': x-expires deletion failed: ${describeError(err)}`);
      }
    }, ms);
    this.expiresTimer.unref();
  }

  private scheduleTtl(): void {
    const head = this.peekReady();
    if (head === undefined || head.expiresAt === Infinity) return;
    if (this.ttlTimer && this.ttlTimerAt <= head.expiresAt) return;
    if (this.ttlTimer) clearTimeout(this.ttlTimer);
    this.ttlTimerAt = head.expiresAt;
    const delay = Math.max(0, head.expiresAt - this.host.now());
    this.ttlTimer = setTimeout(() => {
      this.ttlTimer = null;
      this.ttlTimerAt = Infinity;
      if (this.deleted) return;
      try {
        this.expireHead(this.host.now());
      } catch (err) {
        // Last resort (a timer's throw ends the process): the head message has left the queue already, so the
        // next run goes on with the one after it.
        this.host.log(`queue '${this.name}': expiring messages failed: ${describeError(err)}`);
      }
      this.scheduleTtl();
    }, delay + 1);
    this.ttlTimer.unref();
  }
}

function describeError(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

function num(v: FieldValue | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

/** x-arguments win for most keys; for numeric limits the smaller of argument and policy applies (RabbitMQ). */
export function computeLimits(args: FieldTable, policy: FieldTable | undefined): QueueLimits {
  const p = policy ?? {};
  const str = (v: FieldValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
  const overflow = str(args['x-overflow']) ?? str(p['overflow']) ?? 'drop-head';
  return {
    messageTtl: minDefined(num(args['x-message-ttl']), num(p['message-ttl'])),
    expires: minDefined(num(args['x-expires']), num(p['expires'])),
    maxLength: minDefined(num(args['x-max-length']), num(p['max-length'])),
    maxLengthBytes: minDefined(num(args['x-max-length-bytes']), num(p['max-length-bytes'])),
    overflow: overflow === 'reject-publish' || overflow === 'reject-publish-dlx' ? overflow : 'drop-head',
    deadLetterExchange: str(args['x-dead-letter-exchange']) ?? str(p['dead-letter-exchange']),
    deadLetterRoutingKey: str(args['x-dead-letter-routing-key']) ?? str(p['dead-letter-routing-key']),
    maxPriority: Math.min(255, Math.max(0, num(args['x-max-priority']) ?? 0)),
  };
}
