// The message store interface. Queues reach disk only through it, so a replicating store can wrap it later
// (STYLE: LavinMQ's store behind an interface). Two implementations pass one shared conformance suite:
// MemoryStore (embedded default: nothing touches disk) and SegmentStore (append-only segment files, group commit).
import type { Message } from '../queue/message.ts';

export interface RecoveredMessage {
  id: number;
  msg: Message;
  /** delivered before the node stopped and never acknowledged */
  redelivered: boolean;
}

export interface QueueStore {
  /** Records a persistent message; returns its id in this queue. */
  append(msg: Message): number;
  /** Marks a message as delivered at least once (so it comes back redelivered after a restart). */
  delivered(id: number): void;
  /** The message is gone from the queue (acked, expired, dropped, dead-lettered). */
  remove(id: number): void;
  purge(): void;
  /** Messages still in the queue, in order, as found at open. */
  recover(): RecoveredMessage[];
  /** Removes the queue's data for good. */
  destroy(): void;
  /**
   * A short label kept with the queue's data, null until set: for mirrored queues, the role and master epoch the
   * data was written in (so a node replaying the metadata log after a restart can tell current data from stale).
   */
  readonly tag: string | null;
  /** Sets the label; on a durable store it is on disc when this returns. */
  setTag(tag: string | null): void;
}

/** Receives onDurable(token) when what was appended before whenDurable() is on disk. No closure per message. */
export interface DurableWaiter {
  onDurable(token: number): void;
  /** the message could not be stored where it went (a queue on another node that did not answer) */
  onNack?(token: number): void;
}

export interface MessageStore {
  /** true when messages survive a restart */
  readonly durable: boolean;
  openQueue(vhost: string, name: string): QueueStore;
  whenDurable(waiter: DurableWaiter, token: number): void;
  /** Whether the store holds anything (a directory, a record) for this queue; nothing is created. */
  hasQueue(vhost: string, name: string): boolean;
  /** Names of queues with stored data: (vhost, name) pairs. */
  storedQueues(): { vhost: string; name: string }[];
  close(): Promise<void>;
}
