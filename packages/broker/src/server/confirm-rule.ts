// What a publisher confirm waits for: the one rule, used where a message reaches its queues (server/vhost.ts routing on
// the publishing node, cluster/remote-queues.ts on a queue's master for a forwarded publish) and where the channel
// counts what it waits for per sequence number (server/channel.ts).
//
// RabbitMQ's rule (its "Consumer Acknowledgements and Publisher Confirms" guide): a routable message is confirmed
// once every queue it reached has taken responsibility for it:
//   - a persistent message in a durable queue: written to that queue's message store on disc (fsynced)
//   - a mirrored queue: held by every synchronised mirror, whatever the delivery mode
//   - a queue on another node: that node's confirm (which applies this same rule there)
//   - otherwise (a transient message, a non-durable queue, no queue at all): nothing; confirmed at once
// A queue that refuses the message (x-overflow reject-publish) nacks it instead: not a wait, the router reports it.
//
// Deliberately as today, and not RabbitMQ's: a transient message forwarded to a mirrored queue mastered on another
// node is confirmed once sent, without the master's confirm (the forward asks for one only for a persistent message
// in a durable queue). Waiting would cost a peer request per transient publish to such a queue.
//
// Plain functions over plain values (no allocation; they run once per queue a message reaches).

/** Nothing to wait for: confirmed at once. */
export const WAIT_NONE = 0;
/** The queue's message store has written the message to disc (MessageStore.whenDurable). */
export const WAIT_DISC = 1;
/** Every synchronised mirror of the queue has the message (QueueMirror.track). */
export const WAIT_MIRRORS = 2;
/** The queue's node, another member, has confirmed the forwarded message (RemoteQueues.forward with a waiter). */
export const WAIT_REMOTE = 4;

/** What the rule needs to know of a queue (queue/queue.ts's Queue is one). */
export interface ConfirmQueue {
  readonly durable: boolean;
  /** the queue's message store on this node: null unless durable and mastered here */
  readonly store: unknown;
  /** the master's end of a mirrored queue mastered on this node, else null */
  readonly mirror: unknown;
}

/**
 * What a message's confirm waits for from one queue it reached, as a set of WAIT_* bits. `local`: the queue is
 * mastered on this node (it enqueues here); otherwise the message is forwarded to the queue's node.
 */
export function confirmWaits(persistent: boolean, q: ConfirmQueue, local: boolean): number {
  if (!local) return persistent && q.durable ? WAIT_REMOTE : WAIT_NONE;
  let w = WAIT_NONE;
  // the store writes a persistent message of a durable queue (Queue.enqueue); a queue without a store writes nothing
  if (persistent && q.durable && q.store !== null) w |= WAIT_DISC;
  if (q.mirror !== null) w |= WAIT_MIRRORS;
  return w;
}

/**
 * How many confirmations a publish waits for before its confirm (or a transaction's commit-ok): one for this node's
 * disc when any queue needs it (one whenDurable covers every queue's store, the stores share one log), plus one per
 * mirror and per queue on another node. 0: confirmed at once.
 */
export function pendingConfirmations(needsDisk: boolean, remoteWaits: number): number {
  return (needsDisk ? 1 : 0) + remoteWaits;
}
