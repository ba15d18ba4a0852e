// A published message, shared by every queue it was routed to, and a queue's entry for it.
import type { BasicProperties } from '../amqp/methods.ts';

export class Message {
  exchange: string;
  routingKey: string;
  properties: BasicProperties;
  /** Encoded property flags and values as received; re-sent on delivery without re-encoding. */
  rawProperties: Buffer | null;
  body: Buffer;
  /** Arrival time in ms since epoch (for TTL). */
  timestamp: number;

  constructor(exchange: string, routingKey: string, properties: BasicProperties, rawProperties: Buffer | null, body: Buffer, timestamp: number) {
    this.exchange = exchange;
    this.routingKey = routingKey;
    this.properties = properties;
    this.rawProperties = rawProperties;
    this.body = body;
    this.timestamp = timestamp;
  }

  get persistent(): boolean {
    return this.properties.deliveryMode === 2;
  }

  get size(): number {
    return this.body.length;
  }
}

/** One queue's hold on a message. */
export class QueuedMessage {
  readonly msg: Message;
  /** Store id when the message is persisted in this queue's store, else -1. */
  storeId: number;
  /** Absolute expiry in ms, or Infinity. */
  expiresAt: number;
  redelivered: boolean;
  deliveryCount: number;
  priority: number;
  /** position in the queue's enqueue order */
  seq = 0;
  /** set while the message is delivered and unacked: who holds it */
  consumer: import('./consumer.ts').Consumer | null = null;
  queue: import('./consumer.ts').ConsumerQueue | null = null;
  /** the delivery id on the queue's node, for a message delivered from a queue on another node */
  remoteId = 0;

  constructor(msg: Message, storeId: number, expiresAt: number, priority: number) {
    this.msg = msg;
    this.storeId = storeId;
    this.expiresAt = expiresAt;
    this.redelivered = false;
    this.deliveryCount = 0;
    this.priority = priority;
  }
}
