// A consumer: a channel's subscription to one queue (AMQP 0-9-1 §1.8.3.3 basic.consume).
import type { FieldTable } from '../amqp/reader.ts';
/**
 * What a consumer is attached to and what a delivered message is settled with: a local Queue, or a subscription to a
 * queue on another node (cluster/remote-queues.ts) that carries the settlements there.
 */
export interface ConsumerQueue {
  readonly name: string;
  readonly deleted: boolean;
  ack(qm: QueuedMessage, consumer: Consumer | null): void;
  reject(qm: QueuedMessage, consumer: Consumer | null): void;
  requeue(qm: QueuedMessage, consumer: Consumer | null): void;
  dispatch(): void;
  removeConsumer(c: Consumer): void;
}
import type { QueuedMessage } from './message.ts';

/** Whose a consumer is, for listings (the management API's consumers): its channel, connection and node. */
export interface ChannelDetails {
  /** the connection's name ("127.0.0.1:40112 -> 127.0.0.1:5672") */
  connection: string;
  channel: number;
  user: string;
  peerHost: string;
  peerPort: number;
  node: string;
}

/** What a queue needs from the channel that owns a consumer. */
export interface ConsumerChannel {
  /** the channel's details; on the queue's node, those of a consumer's channel on another node as it sent them */
  describe?(): ChannelDetails | null;
  readonly id: number;
  /** false while channel.flow is off, the socket is congested, or the global prefetch is reached */
  canDeliver(): boolean;
  deliver(consumer: Consumer, qm: QueuedMessage): void;
  /** The queue went away (deleted, or its node failed over): the server cancels the consumer. */
  consumerCancelledByServer(consumer: Consumer): void;
  readonly connectionId: number;
}

export class Consumer {
  readonly tag: string;
  readonly queue: ConsumerQueue;
  readonly channel: ConsumerChannel;
  readonly noAck: boolean;
  readonly exclusive: boolean;
  readonly priority: number;
  readonly arguments: FieldTable;
  prefetch: number;
  unacked = 0;
  delivered = 0;

  constructor(tag: string, queue: ConsumerQueue, channel: ConsumerChannel, noAck: boolean, exclusive: boolean, prefetch: number, args: FieldTable) {
    this.tag = tag;
    this.queue = queue;
    this.channel = channel;
    this.noAck = noAck;
    this.exclusive = exclusive;
    this.prefetch = prefetch;
    this.arguments = args;
    const p = args['x-priority'];
    this.priority = typeof p === 'number' ? p : 0;
  }

  hasCapacity(): boolean {
    return (this.noAck || this.prefetch === 0 || this.unacked < this.prefetch) && this.channel.canDeliver();
  }
}
