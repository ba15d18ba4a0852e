// The process ids that listings show for a queue (rabbitmqctl list_queues pid slave_pids synchronised_slave_pids), in
// the form RabbitMQ 3.10 prints Erlang pids (rabbit_misc:pid_to_string): `<node.creation.id.serial>`, e.g.
// `<rabbit@node1.1796683329.1017.0>`. Warren has no Erlang processes; what the ids keep is what a user reads from
// them in RabbitMQ:
//   creation  the node process's incarnation (the 32-bit number its peer links carry, picked at each start, as
//             Erlang's creation is), so a node that restarts shows new pids;
//   id        a number for each queue process: the master's is given by its node when the queue (a new queue object
//             at each start of the app) is first listed there, or when a mirror there is promoted; a mirror's by its
//             master each time it starts mirroring to that node (a mirror that restarts, or comes back, is a new one);
//   serial    0.
// So pids differ between queues, between a queue's master and its mirrors, and across restarts, and every node
// prints the master's own values (other nodes get them with the queue's counts).
/** What the pid functions read of a queue (named here so this module does not import queue.ts back). */
export interface PidQueue {
  readonly node: string;
  readonly vhost: string;
  readonly name: string;
}
import { cryptoRandom } from '@warren/cluster-peer';

/** A queue's pids as its master's node knows them. */
export interface QueuePids {
  pid: string;
  /** live mirrors (slave_pids), in mirror order */
  mirrors: string[];
  /** those holding every message (synchronised_slave_pids) */
  synced: string[];
}

export function formatPid(node: string, creation: number, id: number): string {
  return `<${node}.${creation >>> 0}.${id}.0>`;
}

/** This process's creation when it has no distribution port (a node without peer links). */
export const PROCESS_CREATION = cryptoRandom.uint32();

// ids of queue processes this node gives out (Erlang's first process ids are taken by the runtime)
let nextId = 400;
const masterIds = new WeakMap<PidQueue, { node: string; id: number }>();

/** The id of q's master process on this node (a new one once q moved here from another node). */
export function masterPidId(q: PidQueue): number {
  const have = masterIds.get(q);
  if (have !== undefined && have.node === q.node) return have.id;
  const id = nextId++;
  masterIds.set(q, { node: q.node, id });
  return id;
}

/**
 * The id of a mirror of a queue, given by its master: from the queue, the master node and which start of mirroring
 * it is. Ids the master gives its mirrors are 2^15 and up (a node's own count stays below that for as long as it has
 * fewer queue processes), and hashed so that two masters giving ids to mirrors on the same node seldom meet.
 */
export function mirrorPidId(q: PidQueue, start: number): number {
  let h = 0x811c9dc5;
  const s = `${q.node}\u0000${q.vhost}\u0000${q.name}\u0000${start}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return 32768 + ((h >>> 0) % (1 << 27));
}
