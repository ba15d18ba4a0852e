// Classic queues live on one node and are reachable from all (as in RabbitMQ): a node forwards publishes to the
// queue's node, and subscribes there on behalf of its consumers.
//
// Messages on the peer link, between the consumer's node C and the queue's node O:
//   C -> O  pub     {v, q, e, k, p, b, t}            one-way, or a request when C's publisher waits for a confirm
//   C -> O  sub     {cid, v, q, noAck, prefetch, exclusive, args}   request: O attaches a consumer that sends to C
//   O -> C  dlv     {cid, id, r, e, k, p, b}         a delivery; id names it on O
//   C -> O  settle  {cid, ops: [[id, 0 ack | 1 reject | 2 requeue], ...]}   batched per tick
//   C -> O  unsub   {cid}                            the consumer went: O requeues what it still holds for it
//   O -> C  cancelled {cid}                           the queue went (deleted): C cancels the consumer
//   C -> O  get     {v, q, noAck}                    request: a message or {empty}; with acks it is held as cid "get"
// When the link drops, O requeues everything held for C's consumers, and C cancels those consumers (their queue is
// unreachable, as RabbitMQ's consumers of a down node's queue are).
import { DEFERRED, packMessage, type PeerError, type PeerLink, type PeerManager, type ReplyHandler } from '@warren/cluster-peer';
import type { Broker } from '../server/broker.ts';
import { EnqueueResult, type Queue, type QueueCounts } from '../queue/queue.ts';
import { Consumer, type ChannelDetails, type ConsumerChannel, type ConsumerQueue } from '../queue/consumer.ts';
import { Message, QueuedMessage } from '../queue/message.ts';
import type { DurableWaiter } from '../store/message-store.ts';
import { Writer } from '../amqp/writer.ts';
import { Reader, type FieldTable } from '../amqp/reader.ts';
import * as M from '../amqp/methods.ts';
import { MessageDecoder, rawProps } from './wire-message.ts';
import { getMessages, type GetRequest } from '../mgmt/messages.ts';
import { WAIT_DISC, WAIT_MIRRORS, confirmWaits } from '../server/confirm-rule.ts';

const ACK = 0;
const REJECT = 1;
const REQUEUE = 2;

export interface WireMessage {
  e: string;
  k: string;
  p: Uint8Array;
  b: Uint8Array;
  t?: number;
}

const decoder = new MessageDecoder();

function toMessage(m: WireMessage): Message {
  return decoder.decode(m.e, m.k, m.p, m.b, m.t ?? Date.now());
}

/** On the queue's node: a consumer on another node, seen as a channel that sends deliveries over the link. */
class RemoteConsumerChannel implements ConsumerChannel {
  readonly id = 0;
  readonly connectionId = 0;
  readonly unacked = new Map<number, QueuedMessage>();
  private nextId = 0;
  consumer: Consumer | null = null;
  readonly link: PeerLink;
  readonly cid: string;
  /** the subscribing channel, as its node described it (none for a basic.get's hold) */
  details: ChannelDetails | null = null;

  constructor(link: PeerLink, cid: string) {
    this.link = link;
    this.cid = cid;
  }

  describe(): ChannelDetails | null {
    return this.details;
  }

  canDeliver(): boolean {
    return this.link.isOpen && !this.link.writableNeedDrain;
  }

  deliver(c: Consumer, qm: QueuedMessage): void {
    const id = ++this.nextId;
    if (!c.noAck) this.unacked.set(id, qm);
    const m = qm.msg;
    this.link.send({ type: 'dlv', cid: this.cid, id, r: qm.redelivered, e: m.exchange, k: m.routingKey, p: rawProps(m), b: m.body });
  }

  hold(qm: QueuedMessage): number {
    const id = ++this.nextId;
    this.unacked.set(id, qm);
    return id;
  }

  consumerCancelledByServer(): void {
    if (this.link.isOpen) this.link.send({ type: 'cancelled', cid: this.cid });
  }

  settle(q: Queue, ops: [number, number][]): void {
    for (const [id, op] of ops) {
      const qm = this.unacked.get(id);
      if (qm === undefined) continue;
      this.unacked.delete(id);
      if (op === ACK) q.ack(qm, this.consumer);
      else if (op === REJECT) q.reject(qm, this.consumer);
      else q.requeue(qm, this.consumer);
    }
    if (!q.deleted) q.dispatch();
  }

  /** Everything still held goes back to the queue (the consumer or its node went away). */
  releaseAll(q: Queue): void {
    const held = [...this.unacked.values()];
    this.unacked.clear();
    for (const qm of held) q.requeue(qm, this.consumer);
    if (!q.deleted) q.dispatch();
  }
}

/** On the consumer's node: one subscription to a queue on another node; what deliveries are settled with. */
export class RemoteSubscription implements ConsumerQueue {
  readonly name: string;
  readonly deleted = false;
  readonly node: string;
  readonly cid: string;
  vhost = '';
  prefetch = 0;
  consumer: Consumer | null = null;
  /** deliveries that arrived before the client got consume-ok */
  private early: QueuedMessage[] | null = [];
  private ops: [number, number][] = [];
  private scheduled = false;
  private readonly owner: RemoteQueues;

  constructor(owner: RemoteQueues, node: string, name: string, cid: string) {
    this.owner = owner;
    this.node = node;
    this.name = name;
    this.cid = cid;
  }

  private push(qm: QueuedMessage, op: number): void {
    this.ops.push([qm.remoteId, op]);
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.ops.length === 0) return;
    const ops = this.ops;
    this.ops = [];
    this.owner.send(this.node, { type: 'settle', cid: this.cid, ops });
  }

  /** A delivery from the queue's node. */
  deliver(qm: QueuedMessage): void {
    if (this.consumer === null) return;
    if (this.early !== null) this.early.push(qm);
    else this.consumer.channel.deliver(this.consumer, qm);
  }

  /** consume-ok went out: deliveries may follow it. */
  activate(): void {
    const early = this.early;
    this.early = null;
    if (early !== null && this.consumer !== null) for (const qm of early) this.consumer.channel.deliver(this.consumer, qm);
  }

  ack(qm: QueuedMessage): void {
    this.push(qm, ACK);
  }
  reject(qm: QueuedMessage): void {
    this.push(qm, REJECT);
  }
  requeue(qm: QueuedMessage): void {
    this.push(qm, REQUEUE);
  }
  dispatch(): void {}

  removeConsumer(): void {
    this.flush();
    this.owner.unsubscribe(this);
  }
}

export class RemoteQueues {
  private readonly broker: () => Broker | null;
  private readonly manager: () => PeerManager | null;
  /** on the queue's node: remote consumers by link node and cid */
  private readonly remote = new Map<string, { ch: RemoteConsumerChannel; q: Queue }>();
  /** on the consumer's node: subscriptions by cid */
  private readonly subs = new Map<string, RemoteSubscription>();
  private nextCid = 0;

  constructor(broker: () => Broker | null, manager: () => PeerManager | null) {
    this.broker = broker;
    this.manager = manager;
  }

  send(node: string, msg: unknown): boolean {
    return this.sendPacked(node, packMessage(msg));
  }

  /** send() of a message packed with packMessage() (the same message to several nodes is packed once). */
  sendPacked(node: string, payload: Buffer): boolean {
    const link = this.manager()?.link(node);
    if (!link || !link.isOpen) return false;
    try {
      link.sendPacked(payload);
      return true;
    } catch {
      return false;
    }
  }

  // ---- publishing (C side)

  /**
   * Publishes to a mirrored queue whose master this node cannot reach (a failover under way), oldest first: held
   * until a mirror is promoted or the master's node is back, then sent on in order, as RabbitMQ holds them instead of
   * refusing them. Bounded in bytes (HOLD_MAX_BYTES) and time (HOLD_MAX_MS): past either, refused (basic.nack).
   */
  private held: { q: Queue; msg: Message; waiter: DurableWaiter | null; token: number; at: number; notBefore: number }[] = [];
  private heldBytes = 0;
  /** how many are held per queue */
  private heldFor = new Map<Queue, number>();
  private holdTimer: NodeJS.Timeout | null = null;

  forward(q: Queue, msg: Message, waiter: DurableWaiter | null, token: number): boolean {
    const link = this.manager()?.link(q.node);
    if (!link || !link.isOpen) return this.hold(q, msg, waiter, token);
    // a publish must not overtake the ones held for its queue
    if (this.heldFor.has(q)) {
      this.release();
      if (this.heldFor.has(q)) return this.hold(q, msg, waiter, token);
    }
    return this.send1(link, q, msg, waiter, token);
  }

  private releaseTimer: NodeJS.Timeout | null = null;

  /**
   * A release after `delayMs`, one for a burst: the publishes a lost link failed are held again all at once, and
   * those whose queue has a reachable master already (the promotion applied here before this node's own link to the
   * old master timed out) go on then rather than at the next periodic check, up to HOLD_CHECK_MS later.
   */
  releaseSoon(delayMs: number): void {
    if (this.releaseTimer !== null) return;
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = null;
      this.release();
    }, delayMs);
    this.releaseTimer.unref();
  }

  /** Holds a publish to a mirrored queue between masters; false if the queue is not mirrored or there is no room. */
  hold(q: Queue, msg: Message, waiter: DurableWaiter | null, token: number, notBefore = 0): boolean {
    if (!q.mirroredByPolicy || this.heldBytes + msg.body.length > HOLD_MAX_BYTES) return false;
    this.held.push({ q, msg, waiter, token, at: Date.now(), notBefore });
    this.heldBytes += msg.body.length;
    this.heldFor.set(q, (this.heldFor.get(q) ?? 0) + 1);
    if (this.holdTimer === null) {
      this.holdTimer = setInterval(() => this.release(), HOLD_CHECK_MS);
      this.holdTimer.unref();
    }
    return true;
  }

  /**
   * Sends on the held publishes that can go now (their queue's master is reachable, or is this node), in order; a
   * held publish whose queue cannot take it yet keeps every later one of the same queue waiting. Called when a link
   * comes up, when a promotion applies, before any new forward, and periodically (expiry).
   */
  release(): void {
    if (this.held.length === 0) return;
    const b = this.broker();
    const now = Date.now();
    const blocked = new Set<Queue>();
    const keep: typeof this.held = [];
    for (const h of this.held) {
      const { q } = h;
      if (!blocked.has(q)) {
        if (b === null || q.deleted || now - h.at > HOLD_MAX_MS) {
          this.heldBytes -= h.msg.body.length;
          h.waiter?.onNack?.(h.token);
          continue;
        }
        if (q.node === b.localNode && h.notBefore <= now) {
          this.heldBytes -= h.msg.body.length;
          this.enqueueHere(q, h.msg, h.waiter, h.token);
          continue;
        }
        const link = this.manager()?.link(q.node);
        if (link && link.isOpen && h.notBefore <= now) {
          this.heldBytes -= h.msg.body.length;
          if (!this.send1(link, q, h.msg, h.waiter, h.token)) h.waiter?.onNack?.(h.token);
          continue;
        }
        blocked.add(q);
      }
      keep.push(h);
    }
    this.held = keep;
    this.heldFor.clear();
    for (const h of keep) this.heldFor.set(h.q, (this.heldFor.get(h.q) ?? 0) + 1);
    if (keep.length === 0 && this.holdTimer !== null) {
      clearInterval(this.holdTimer);
      this.holdTimer = null;
    }
  }

  private send1(link: PeerLink, q: Queue, msg: Message, waiter: DurableWaiter | null, token: number): boolean {
    const payload = { type: 'pub', v: q.vhost, q: q.name, e: msg.exchange, k: msg.routingKey, p: rawProps(msg), b: msg.body, t: msg.timestamp };
    if (waiter === null) {
      try {
        link.send(payload);
      } catch {
        return false;
      }
      return true;
    }
    try {
      link.requestWith(payload, new ForwardedPublish(this, q, msg, waiter, token), 0, 15_000);
    } catch {
      return false;
    }
    return true;
  }

  // ---- consuming (C side)

  subscribe(node: string, vhost: string, queue: string, channel: ConsumerChannel, tag: string, noAck: boolean, exclusive: boolean, prefetch: number, args: FieldTable): Promise<Consumer> {
    const cid = `${++this.nextCid}`;
    const sub = new RemoteSubscription(this, node, queue, cid);
    sub.vhost = vhost;
    sub.prefetch = prefetch;
    // the local consumer has no prefetch of its own: the queue's node enforces it
    const c = new Consumer(tag, sub, channel, noAck, exclusive, 0, args);
    sub.consumer = c;
    this.subs.set(cid, sub);
    // (the tag and the channel's details are for the queue's node's listings of its consumers)
    return this.request(node, vhost, queue, { type: 'sub', cid, noAck, prefetch, exclusive, args, tag, ch: channel.describe?.() ?? null }).then(
      () => c,
      (err: unknown) => {
        this.subs.delete(cid);
        throw err;
      },
    );
  }

  unsubscribe(sub: RemoteSubscription): void {
    this.subs.delete(sub.cid);
    this.send(sub.node, { type: 'unsub', cid: sub.cid });
  }

  get(node: string, vhost: string, queue: string, noAck: boolean): Promise<{ qm: QueuedMessage; count: number; target: ConsumerQueue } | null> {
    return this.request(node, vhost, queue, { type: 'get', noAck }).then((r) => {
      const reply = r as ({ empty: true } | (WireMessage & { id: number; r: boolean; count: number }));
      if ('empty' in reply) return null;
      const qm = new QueuedMessage(toMessage(reply), -1, Infinity, 0);
      qm.redelivered = reply.r;
      qm.remoteId = reply.id;
      return { qm, count: reply.count, target: new RemoteSubscription(this, node, queue, `get|${vhost}|${queue}`) };
    });
  }

  // ---- the queue's node (O side) and deliveries arriving on C

  onMessage(link: PeerLink, m: { type: string } & Record<string, unknown>): boolean {
    switch (m.type) {
      case 'pub': {
        // published without confirms: nobody waits for an answer
        const p = m as unknown as WireMessage & { v: string; q: string };
        let q: Queue;
        try {
          q = this.localQueue(p.v, p.q);
        } catch {
          return true;
        }
        this.enqueueHere(q, toMessage(p), null, 0);
        return true;
      }
      case 'dlv': {
        const sub = this.subs.get(m['cid'] as string);
        if (sub === undefined || sub.consumer === null) return true;
        const qm = new QueuedMessage(toMessage(m as unknown as WireMessage), -1, Infinity, 0);
        qm.redelivered = m['r'] as boolean;
        qm.remoteId = m['id'] as number;
        sub.deliver(qm);
        return true;
      }
      case 'settle': {
        const e = this.remote.get(`${link.remoteNode}|${m['cid'] as string}`);
        e?.ch.settle(e.q, m['ops'] as [number, number][]);
        return true;
      }
      case 'unsub': {
        const k = `${link.remoteNode}|${m['cid'] as string}`;
        const e = this.remote.get(k);
        if (e) {
          this.remote.delete(k);
          if (e.ch.consumer) e.q.removeConsumer(e.ch.consumer);
          e.ch.releaseAll(e.q);
        }
        return true;
      }
      case 'cancelled': {
        const sub = this.subs.get(m['cid'] as string);
        if (sub?.consumer) {
          this.subs.delete(sub.cid);
          sub.consumer.channel.consumerCancelledByServer(sub.consumer);
        }
        return true;
      }
      default:
        return false;
    }
  }

  private localQueue(vhost: string, name: string): Queue {
    const b = this.broker();
    const q = b?.vhosts.get(vhost)?.queues.get(name);
    // (a node whose app is stopped, paused by pause_minority or still starting, has no queues to offer)
    if (b === null || !b.running) throw new Error(homeNodeDown(this.manager()?.nodeName ?? b?.localNode ?? 'this node', vhost, name));
    if (!q) throw new Error(`NOT_FOUND - no queue '${name}' in vhost '${vhost}'`);
    // a sender whose metadata is behind takes this node for the queue's: its master is elsewhere now (a mirrored
    // queue moved), and what this node holds of it is no queue to confirm a publish into or consume from
    if (q.node !== b.localNode) throw Object.assign(new Error(`queue '${name}' in vhost '${vhost}' is on ${q.node}, not on ${b.localNode}`), { code: NOT_MASTER });
    return q;
  }

  /**
   * A publish forwarded with confirms (request `id` on `link`): the reply goes out once the message is on this node's
   * disc and with every synchronised mirror, a REMOTE_ERROR if the queue does not take it. Throws (the requester's
   * error at once) when this node is not the queue's master.
   */
  onPubRequest(link: PeerLink, m: WireMessage & { v: string; q: string }, id: number): typeof DEFERRED {
    const q = this.localQueue(m.v, m.q);
    let replies = this.pubReplies.get(link);
    if (replies === undefined) this.pubReplies.set(link, (replies = new PubReplies(link)));
    this.enqueueHere(q, toMessage(m), replies, id);
    return DEFERRED;
  }

  /** One reply target per link for forwarded publishes (the request id is the token). */
  private readonly pubReplies = new WeakMap<PeerLink, PubReplies>();

  /**
   * Enqueues on this node, the queue's master. The waiter hears onDurable(token) once the message is on this node's
   * disc (when persistent) and with every synchronised mirror; onNack(token) if the queue refuses it (a full queue
   * with overflow reject-publish) or a mirror's confirm cannot come.
   */
  private enqueueHere(q: Queue, msg: Message, waiter: DurableWaiter | null, token: number): void {
    if (q.deleted || q.enqueue(msg) !== EnqueueResult.Accepted) {
      waiter?.onNack?.(token);
      return;
    }
    if (waiter === null) return;
    const w = new Waits(waiter, token);
    const waits = confirmWaits(msg.persistent, q, true);
    if ((waits & WAIT_MIRRORS) !== 0) w.n += q.mirror!.track(w, 0);
    if ((waits & WAIT_DISC) !== 0) {
      w.n++;
      this.broker()!.messageStore.whenDurable(w, 0);
    }
    w.onDurable();
  }

  /**
   * The counts of queues mastered on `node` (list_queues on another node shows the master's figures, as RabbitMQ
   * does), by name; null when that node cannot be asked. A queue it no longer masters is left out.
   */
  async counts(node: string, vhost: string, names: string[]): Promise<Record<string, QueueCounts> | null> {
    const link = this.manager()?.link(node);
    if (!link || !link.isOpen) return null;
    try {
      return (await link.request({ type: 'qcounts', v: vhost, names }, { timeoutMs: 5000 })) as Record<string, QueueCounts>;
    } catch {
      return null;
    }
  }

  /**
   * One queue's counts, from its master's node (q.node): rejects, with RabbitMQ's 404 text, when that node cannot be
   * asked or does not hold the queue's master (any more). `redeclared`: asked for a queue.declare-ok, which counts as
   * a use of the queue for its x-expires, as RabbitMQ has it.
   */
  info(q: Queue, redeclared = false): Promise<QueueCounts> {
    return this.ask(q, { type: 'qinfo', redeclared }) as Promise<QueueCounts>;
  }

  /** Purges the queue on its master's node; resolves to the number of messages purged. */
  purge(q: Queue): Promise<number> {
    return (this.ask(q, { type: 'purge' }) as Promise<{ n: number }>).then((r) => r.n);
  }

  /** The management API's get, run on the queue's master's node. */
  mgmtGet(q: Queue, r: GetRequest): Promise<Record<string, unknown>[]> {
    return this.ask(q, { type: 'mget', r }) as Promise<Record<string, unknown>[]>;
  }

  private ask(q: Queue, m: Record<string, unknown>): Promise<unknown> {
    return this.request(q.node, q.vhost, q.name, m);
  }

  /** A request about one queue to its node; rejects with RabbitMQ's 404 text at once when there is no link to it. */
  private request(node: string, vhost: string, queue: string, m: Record<string, unknown>): Promise<unknown> {
    const link = this.manager()?.link(node);
    if (!link || !link.isOpen) return Promise.reject(new Error(homeNodeDown(node, vhost, queue)));
    return link.request({ ...m, v: vhost, q: queue }, { timeoutMs: 15_000 });
  }

  /**
   * The counts of each queue as its master has them: this node's own queues read here, the others asked of their
   * masters' nodes (one request per node and vhost, in parallel). null for a queue whose master cannot be asked (or
   * no longer masters it).
   */
  async countsOf(queues: Iterable<Queue>, localNode: string): Promise<Map<Queue, QueueCounts | null>> {
    const out = new Map<Queue, QueueCounts | null>();
    const elsewhere = new Map<string, Queue[]>();
    for (const q of queues) {
      if (q.node === '' || q.node === localNode) out.set(q, q.counts());
      else {
        const key = `${q.node}\u0000${q.vhost}`;
        let list = elsewhere.get(key);
        if (list === undefined) elsewhere.set(key, (list = []));
        list.push(q);
      }
    }
    await Promise.all(
      [...elsewhere.values()].map(async (list) => {
        const got = await this.counts(list[0]!.node, list[0]!.vhost, list.map((q) => q.name));
        for (const q of list) out.set(q, got?.[q.name] ?? null);
      }),
    );
    return out;
  }

  onRequest(link: PeerLink, m: { type: string } & Record<string, unknown>): unknown {
    switch (m.type) {
      case 'qcounts': {
        const b = this.broker();
        const out: Record<string, QueueCounts> = {};
        // a node whose app is stopped has no queues to count: the asking node lists them as down
        if (b === null || !b.running) return out;
        const vh = b.vhosts.get(m['v'] as string);
        for (const name of m['names'] as string[]) {
          const q = vh?.queues.get(name);
          if (q === undefined || b === null || q.node !== b.localNode) continue;
          const c = q.counts();
          if (b.queueRates !== null) c.rates = b.queueRates(q);
          const pids = b.queuePids?.(q);
          if (pids) c.pids = pids;
          out[name] = c;
        }
        return out;
      }
      case 'qinfo': {
        const q = this.localQueue(m['v'] as string, m['q'] as string);
        if (m['redeclared'] === true) q.touch();
        return q.counts();
      }
      case 'purge':
        return { n: this.localQueue(m['v'] as string, m['q'] as string).purge() };
      case 'mget':
        return getMessages(this.localQueue(m['v'] as string, m['q'] as string), m['r'] as GetRequest);
      case 'sub': {
        const q = this.localQueue(m['v'] as string, m['q'] as string);
        if (q.hasExclusiveConsumer() || (m['exclusive'] === true && q.consumerCount > 0)) {
          throw new Error(`ACCESS_REFUSED - queue '${q.name}' in vhost '${q.vhost}' in exclusive use`);
        }
        const ch = new RemoteConsumerChannel(link, m['cid'] as string);
        ch.details = (m['ch'] as ChannelDetails | null | undefined) ?? null;
        const tag = typeof m['tag'] === 'string' ? m['tag'] : `remote:${link.remoteNode}:${m['cid'] as string}`;
        const c = new Consumer(tag, q, ch, m['noAck'] === true, m['exclusive'] === true, (m['prefetch'] as number) ?? 0, (m['args'] as FieldTable) ?? {});
        ch.consumer = c;
        this.remote.set(`${link.remoteNode}|${ch.cid}`, { ch, q });
        // attach after the reply is on its way, so deliveries follow consume-ok
        setImmediate(() => q.addConsumer(c));
        return { ok: true };
      }
      case 'get': {
        const q = this.localQueue(m['v'] as string, m['q'] as string);
        const noAck = m['noAck'] === true;
        const qm = q.get(noAck);
        if (qm === undefined) return { empty: true };
        let id = 0;
        if (!noAck) {
          const cid = `get|${q.vhost}|${q.name}`;
          const k = `${link.remoteNode}|${cid}`;
          let e = this.remote.get(k);
          if (!e || e.q !== q) {
            e = { ch: new RemoteConsumerChannel(link, cid), q };
            this.remote.set(k, e);
          }
          id = e.ch.hold(qm);
        }
        const msg = qm.msg;
        return { id, r: qm.redelivered, e: msg.exchange, k: msg.routingKey, p: rawProps(msg), b: msg.body, count: q.messageCount };
      }
      default:
        return undefined;
    }
  }

  /** A peer's link went down: what its consumers held goes back to our queues; our consumers of its queues end. */
  linkDown(node: string, plainOnly = false): void {
    for (const [k, e] of [...this.remote]) {
      if (!k.startsWith(`${node}|`)) continue;
      if (plainOnly && e.q.mirroredByPolicy) continue;
      this.remote.delete(k);
      if (e.ch.consumer) e.q.removeConsumer(e.ch.consumer);
      e.ch.releaseAll(e.q);
    }
    for (const sub of [...this.subs.values()]) {
      if (sub.node !== node || sub.consumer === null) continue;
      const q = this.broker()?.vhosts.get(sub.vhost)?.queues.get(sub.name);
      if (plainOnly && q?.mirroredByPolicy === true) continue;
      this.subs.delete(sub.cid);
      const c = sub.consumer;
      // a mirrored queue gets a new master: its consumers wait for it and follow, unless they asked to be told
      // (x-cancel-on-ha-failover, RabbitMQ)
      if (q !== undefined && q.mirroredByPolicy && c.arguments['x-cancel-on-ha-failover'] !== true) {
        this.orphans.push({ sub, queue: q, at: Date.now() });
        if (this.orphanTimer === null) {
          this.orphanTimer = setInterval(() => this.expireOrphans(), ORPHAN_CHECK_MS);
          this.orphanTimer.unref();
        }
        // this node may have applied the promotion before its link to the old master timed out (a hung master):
        // then there is no promotion left to wait for, the consumer follows now
        if (q.node !== node) this.queueMoved(q);
        continue;
      }
      c.channel.consumerCancelledByServer(c);
    }
  }

  /**
   * A peer's link is up: publishes held for queues mastered there go on, and consumers that waited for a promotion of
   * a queue still mastered there (it came back before any mirror was promoted, its app perhaps restarted, as under
   * pause_minority) subscribe there again: the master dropped their old subscriptions with the link.
   */
  linkUp(node: string): void {
    const back = new Set<Queue>();
    for (const o of this.orphans) if (o.queue.node === node && !o.queue.deleted) back.add(o.queue);
    // (queueMoved releases the held publishes first)
    if (back.size === 0) this.release();
    for (const q of back) this.queueMoved(q);
  }

  /** Consumers of a mirrored queue whose master was lost, waiting for the promoted one. */
  private orphans: { sub: RemoteSubscription; queue: Queue; at: number }[] = [];
  private orphanTimer: NodeJS.Timeout | null = null;

  /**
   * Waiting consumers whose queue was deleted meanwhile, or whose master neither came back nor was replaced within
   * ORPHAN_TIMEOUT_MS (no disc majority to promote, or no synchronised mirror), get basic.cancel: the client can
   * consume elsewhere or later instead of waiting on a consumer that gets nothing.
   */
  private expireOrphans(): void {
    const now = Date.now();
    const keep: typeof this.orphans = [];
    for (const o of this.orphans) {
      const c = o.sub.consumer;
      if (c === null) continue;
      if (o.queue.deleted || now - o.at > ORPHAN_TIMEOUT_MS) c.channel.consumerCancelledByServer(c);
      else keep.push(o);
    }
    this.orphans = keep;
    if (keep.length === 0 && this.orphanTimer !== null) {
      clearInterval(this.orphanTimer);
      this.orphanTimer = null;
    }
  }

  /** A queue's master moved: its held publishes go on and its waiting consumers subscribe at the new master (or attach here, if that is us). */
  queueMoved(q: Queue): void {
    this.release();
    const moved = this.orphans.filter((o) => o.queue === q);
    this.orphans = this.orphans.filter((o) => o.queue !== q);
    for (const o of moved) this.resubscribe(o);
  }

  /** One waiting consumer subscribes at its queue's master (or attaches here); waits again if that fails. */
  private resubscribe(o: { sub: RemoteSubscription; queue: Queue; at: number }): void {
    const q = o.queue;
    const old = o.sub.consumer!;
    const ch = old.channel as ConsumerChannel & { replaceConsumer?(tag: string, c: Consumer): boolean };
    if (q.node === this.broker()?.localNode) {
      const c = new Consumer(old.tag, q, old.channel, old.noAck, old.exclusive, o.sub.prefetch, old.arguments);
      if (ch.replaceConsumer?.(old.tag, c) === true) q.addConsumer(c);
    } else {
      this.subscribe(q.node, q.vhost, q.name, old.channel, old.tag, old.noAck, old.exclusive, o.sub.prefetch, old.arguments).then(
        (c) => {
          if (ch.replaceConsumer?.(old.tag, c) === true) (c.queue as RemoteSubscription).activate();
          else c.queue.removeConsumer(c);
        },
        // the new master has not applied its own promotion yet (this node, the metadata leader, applied it first),
        // or its link is not up: the consumer keeps waiting for it, as long as any orphan waits
        () => this.waitAgain(o),
      );
    }
  }

  private waitAgain(o: { sub: RemoteSubscription; queue: Queue; at: number }): void {
    const c = o.sub.consumer;
    if (c === null) return;
    if (o.queue.deleted || Date.now() - o.at > ORPHAN_TIMEOUT_MS) return void c.channel.consumerCancelledByServer(c);
    this.orphans.push(o);
    if (this.orphanTimer === null) {
      this.orphanTimer = setInterval(() => this.expireOrphans(), ORPHAN_CHECK_MS);
      this.orphanTimer.unref();
    }
    // only this consumer tries again: retrying every waiting consumer of the queue from each one's timer multiplied
    // the timers by the number of consumers at each round (a livelock the cluster simulator found: its old seed 70,
    // two consumers of a queue whose new master refused them, 200,000 timers within one millisecond)
    setTimeout(() => {
      const i = this.orphans.indexOf(o);
      if (i < 0) return;
      this.orphans.splice(i, 1);
      this.release();
      this.resubscribe(o);
    }, RESUBSCRIBE_MS);
  }
}

/** A forwarded publish with a publisher waiting for its confirm, until the queue's node answers. */
class ForwardedPublish implements ReplyHandler {
  constructor(
    private readonly owner: RemoteQueues,
    private readonly q: Queue,
    private readonly msg: Message,
    private readonly waiter: DurableWaiter,
    private readonly token: number,
  ) {}

  onReply(): void {
    this.waiter.onDurable(this.token);
  }

  onReplyError(_token: number, err: PeerError): void {
    // the link to the master's node failed with the publish unanswered (a failover: closed, heartbeats missed), or
    // the node is not the master (any more, or yet: the promotion has not applied on one of us): held again for the
    // master, if there is room (the old master may have taken it: then it comes twice, never not at all); a refused
    // one is retried after a pause, not at once. Any other refusal is the publisher's nack.
    const notMaster = err.remoteCode === NOT_MASTER;
    if (err.code === 'LINK_CLOSED' || err.code === 'HEARTBEAT_TIMEOUT' || notMaster) {
      if (this.owner.hold(this.q, this.msg, this.waiter, this.token, notMaster ? Date.now() + HOLD_RETRY_MS : 0)) {
        this.owner.releaseSoon(notMaster ? HOLD_RETRY_MS : 0);
        return;
      }
    }
    this.waiter.onNack?.(this.token);
  }
}

/** Answers forwarded publishes on one link: the token is the request id. */
class PubReplies implements DurableWaiter {
  constructor(private readonly link: PeerLink) {}

  onDurable(id: number): void {
    this.link.reply(id, null);
  }

  onNack(id: number): void {
    this.link.replyError(id, new Error('the queue did not take the message (full with overflow reject-publish, or deleted, or a mirror cannot confirm it)'));
  }
}

/** Counts what a publisher is waiting for (a disc, mirrors) before it hears onDurable once. */
class Waits implements DurableWaiter {
  /** starts at 1: the caller's own hold, released once every wait is counted */
  n = 1;
  private readonly waiter: DurableWaiter;
  private readonly token: number;

  constructor(waiter: DurableWaiter, token: number) {
    this.waiter = waiter;
    this.token = token;
  }

  onDurable(): void {
    if (this.n > 0 && --this.n === 0) this.waiter.onDurable(this.token);
  }

  onNack(): void {
    if (this.n === 0) return;
    this.n = 0;
    this.waiter.onNack?.(this.token);
  }
}

/** Publishes held for mirrored queues between masters: at most this many body bytes, each for at most HOLD_MAX_MS. */
export const HOLD_MAX_BYTES = 64 * 1024 * 1024;
export const HOLD_MAX_MS = 30_000;
const HOLD_CHECK_MS = 250;
/** A publish the queue's node refused as not its master waits this long before it goes again. */
const HOLD_RETRY_MS = 100;
/** RabbitMQ's reply text (404) for a queue whose node is down, cut off, or has its app stopped. */
function homeNodeDown(node: string, vhost: string, queue: string): string {
  return `NOT_FOUND - home node '${node}' of queue '${queue}' in vhost '${vhost}' is down or inaccessible`;
}

/** The error code of a forwarded publish, subscription or get refused by a node that is not the queue's master. */
const NOT_MASTER = 'NOT_MASTER';

/** Between a consumer's attempts to subscribe at its queue's new master, which may not have applied its promotion yet. */
const RESUBSCRIBE_MS = 100;
/** How long a consumer of a mirrored queue waits for a new master before it is cancelled (WARREN_ORPHAN_TIMEOUT_MS). */
export const ORPHAN_TIMEOUT_MS = Number(process.env['WARREN_ORPHAN_TIMEOUT_MS'] ?? 30_000);
/** How often waiting consumers are checked for that. */
const ORPHAN_CHECK_MS = 1000;
