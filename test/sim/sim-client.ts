// Simulated AMQP clients at the broker API level, without sockets: a publisher in confirm mode and a consumer that
// acks. Each does what server/channel.ts does for its AMQP counterpart (route with a DurableWaiter, count the
// confirmations a publish waits for, nack on a rejection; deliver into an unacked map, ack through the queue the
// delivery came from, requeue everything when the connection goes), so what they record is what a real client
// connected to that node would have seen. A client lives as long as its "connection": when its node crashes or its
// app stops, it is dead, and the harness connects a new one to another node (as clients do through the proxy).
import { Message, type QueuedMessage } from '../../packages/broker/src/queue/message.ts';
import { Consumer, type ConsumerChannel, type ConsumerQueue } from '../../packages/broker/src/queue/consumer.ts';
import type { Broker } from '../../packages/broker/src/server/broker.ts';
import type { DurableWaiter } from '../../packages/broker/src/store/message-store.ts';
import type { SeededRandom } from '@warren/cluster-peer';

export const VHOST = '/';

/** What every client of a schedule reports to: the ledger the invariants are checked against. */
export interface Ledger {
  /** message id -> node and time of its confirm */
  confirmed: Map<string, { node: string; at: number; master: string; context: string }>;
  nacked: Set<string>;
  /** routed nowhere (the node did not know the queue yet): a mandatory publish would get basic.return */
  returned: Set<string>;
  /** message id -> how many times a consumer acked it */
  acked: Map<string, number>;
  published: number;
  /** connection ids are per schedule, so a seed replays alike whatever ran before it */
  nextConnectionId: number;
  note(line: string): void;
  now(): number;
  /** where the master stood when it confirmed (for the report: on the 'majority' or 'minority' side of the network, down nodes counting as unreachable) */
  confirmContext(master: string): string;
}

/** A connection that ends when its node's app stops (a crash, or stop_app). */
abstract class SimConnection {
  readonly broker: Broker;
  readonly node: string;
  readonly connectionId: number;
  readonly id = 1;
  alive = true;

  // what broker code reads of a Connection it holds (none of it applies to a simulated client)
  readonly user = null;
  readonly vhost = null;

  constructor(broker: Broker, ledger: Ledger) {
    this.broker = broker;
    this.node = broker.localNode;
    this.connectionId = ledger.nextConnectionId++;
    // listed among the broker's connections, so stop_app (pause_minority, autoheal, an operator) closes it as it
    // closes an AMQP connection: 320 CONNECTION_FORCED, consumers released, unacked deliveries requeued
    (broker.connections as Set<unknown>).add(this);
  }

  forceClose(): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  abstract close(): void;

  protected detach(): void {
    this.alive = false;
    (this.broker.connections as Set<unknown>).delete(this);
  }

  /** false once the app it talks to has stopped: the client must reconnect */
  get connected(): boolean {
    return this.alive && this.broker.running;
  }
}

export class SimPublisher extends SimConnection implements DurableWaiter {
  private seq = 0;
  /** confirm seq -> [message id, confirmations still awaited, master seen at publish] */
  private readonly pending = new Map<number, [string, number, string]>();
  private readonly ledger: Ledger;
  private readonly prefix: string;
  private count = 0;
  private queueName = '';

  constructor(broker: Broker, ledger: Ledger, prefix: string) {
    super(broker, ledger);
    this.ledger = ledger;
    this.prefix = prefix;
  }

  /** basic.publish (persistent, mandatory) to the default exchange, in confirm mode. */
  publish(queue: string): void {
    if (!this.connected) return;
    const vh = this.broker.vhosts.get(VHOST);
    if (vh === undefined) return;
    const id = `${this.prefix}-${++this.count}`;
    const msg = new Message('', queue, { deliveryMode: 2, messageId: id }, null, Buffer.from(id), Date.now());
    const seq = ++this.seq;
    this.ledger.published++;
    const master = vh.queues.get(queue)?.node ?? '?';
    this.queueName = queue;
    // as Channel.route
    const r = vh.publish(vh.getExchange(''), msg, this, seq);
    if (r.rejected > 0) {
      this.ledger.nacked.add(id);
      return;
    }
    if (r.routed === 0) {
      this.ledger.returned.add(id);
      return;
    }
    if (r.needsDisk || r.remoteWaits > 0) {
      this.pending.set(seq, [id, (r.needsDisk ? 1 : 0) + r.remoteWaits, master]);
      if (r.needsDisk) this.broker.messageStore.whenDurable(this, seq);
    } else this.confirm(id, master);
  }

  onDurable(seq: number): void {
    const p = this.pending.get(seq);
    if (p === undefined) return;
    if (p[1] > 1) p[1]--;
    else {
      this.pending.delete(seq);
      this.confirm(p[0], p[2]);
    }
  }

  onNack(seq: number): void {
    const p = this.pending.get(seq);
    if (p === undefined || !this.pending.delete(seq) || !this.connected) return;
    this.ledger.nacked.add(p[0]);
  }

  private confirm(id: string, master: string): void {
    // a confirm the dead connection could not carry never reached the client
    if (!this.connected) return;
    const now = this.broker.vhosts.get(VHOST)?.queues.get(this.queueName)?.node ?? master;
    this.ledger.confirmed.set(id, { node: this.node, at: this.ledger.now(), master: now, context: this.ledger.confirmContext(now) });
  }

  /** publishes waiting for their confirm (or nack) */
  get outstanding(): number {
    return this.pending.size;
  }

  /** The connection drops: unconfirmed publishes stay unknown to the client. */
  close(): void {
    this.detach();
    this.pending.clear();
  }
}

export class SimConsumer extends SimConnection implements ConsumerChannel {
  private readonly ledger: Ledger;
  private readonly random: SeededRandom;
  private readonly queue: string;
  private readonly prefetch: number;
  readonly consumers = new Map<string, Consumer>();
  private readonly unacked = new Map<number, QueuedMessage>();
  private deliveryTag = 0;
  private subscribing = false;
  private tagCount = 0;
  private lastError = '';
  received = 0;

  constructor(broker: Broker, ledger: Ledger, random: SeededRandom, queue: string, prefetch: number) {
    super(broker, ledger);
    this.ledger = ledger;
    this.random = random;
    this.queue = queue;
    this.prefetch = prefetch;
  }

  /** basic.consume, with acks. Retried by the harness while it has no consumer. */
  subscribe(): void {
    if (!this.connected || this.subscribing || this.consumers.size > 0) return;
    const vh = this.broker.vhosts.get(VHOST);
    const q = vh?.queues.get(this.queue);
    if (vh === undefined || q === undefined) return;
    const tag = `ctag-${this.connectionId}-${++this.tagCount}`;
    const remote = this.broker.remoteQueues;
    if (q.node !== this.broker.localNode && remote !== null) {
      this.subscribing = true;
      remote.subscribe(q.node, vh.name, q.name, this, tag, false, false, this.prefetch, {}).then(
        (c) => {
          this.subscribing = false;
          if (!this.connected) return void c.queue.removeConsumer(c);
          this.consumers.set(tag, c);
          (c.queue as { activate?: () => void }).activate?.();
        },
        (err: Error) => {
          this.subscribing = false;
          // retried every few ms while the queue has no reachable master: note each reason once
          if (err.message !== this.lastError) this.ledger.note(`consumer ${this.connectionId}@${this.node}: subscribe failed: ${err.message}`);
          this.lastError = err.message;
        },
      );
      return;
    }
    const c = new Consumer(tag, q, this, false, false, this.prefetch, {});
    this.consumers.set(tag, c);
    q.addConsumer(c);
  }

  get consuming(): boolean {
    return this.consumers.size > 0 || this.subscribing;
  }

  canDeliver(): boolean {
    return this.connected;
  }

  deliver(c: Consumer, qm: QueuedMessage): void {
    const tag = ++this.deliveryTag;
    qm.consumer = c;
    qm.queue = c.queue;
    this.unacked.set(tag, qm);
    this.received++;
    // the application works on it for a little while, then acks
    setTimeout(() => this.ack(tag), this.random.uint32() % 30);
  }

  private ack(tag: number): void {
    if (!this.connected) return;
    const qm = this.unacked.get(tag);
    if (qm === undefined) return;
    this.unacked.delete(tag);
    const id = qm.msg.properties.messageId ?? '?';
    this.ledger.acked.set(id, (this.ledger.acked.get(id) ?? 0) + 1);
    // as Channel.ackOne
    const c = qm.consumer;
    qm.queue!.ack(qm, c);
    qm.consumer = null;
    if (c !== null) c.queue.dispatch();
  }

  replaceConsumer(tag: string, c: Consumer): boolean {
    if (!this.connected || !this.consumers.has(tag)) return false;
    this.consumers.set(tag, c);
    return true;
  }

  consumerCancelledByServer(c: Consumer): void {
    this.consumers.delete(c.tag);
    this.ledger.note(`consumer ${this.connectionId}@${this.node}: cancelled by the server`);
  }

  /** The connection closes (the client leaves, or the app stops): consumers go, unacked deliveries are requeued (Channel.teardown). */
  close(): void {
    if (!this.alive) return;
    this.detach();
    for (const c of this.consumers.values()) c.queue.removeConsumer(c);
    this.consumers.clear();
    const list = [...this.unacked.values()];
    this.unacked.clear();
    const touched = new Set<ConsumerQueue>();
    for (let i = list.length - 1; i >= 0; i--) {
      const qm = list[i]!;
      qm.queue!.requeue(qm, qm.consumer);
      qm.consumer = null;
      touched.add(qm.queue!);
    }
    for (const q of touched) if (!q.deleted) q.dispatch();
  }
}
