// The cluster as the management API shows it: which nodes there are (disc/ram, running, partitions) and where each
// queue lives (its node, its mirrors and which of them are synchronised). A single node answers for itself with
// localClusterView(); the clustering layer plugs in its own view through startManagement({ cluster }).
import type { Broker } from '../server/broker.ts';
import type { Queue, QueueCounts } from '../queue/queue.ts';
import type { ListingKind, Viewer } from './viewer.ts';

export interface ClusterNode {
  /** rabbit@host */
  name: string;
  type: 'disc' | 'ram';
  running: boolean;
  /** names of the nodes this one cannot see (RabbitMQ's partitions list) */
  partitions: string[];
  /**
   * Figures for a remote node as its own management reported them (mem_used, mem_limit, uptime, ...). The local
   * node's are read from this process and override nothing here.
   */
  stats?: Record<string, unknown>;
}

export interface QueueLocation {
  /** the node holding the queue's master */
  node: string;
  /** nodes holding a mirror (RabbitMQ slave_nodes) */
  mirrors: string[];
  /** the mirrors that are in sync with the master (RabbitMQ synchronised_slave_nodes) */
  synchronisedMirrors: string[];
}

export interface ClusterView {
  /** Every node of the cluster, this one included. */
  nodes(): ClusterNode[];
  /** Where a queue of this node's broker lives. */
  queueLocation(vhost: string, queue: string): QueueLocation;
  /** Each queue's message and consumer counts as its master has them; null where the master cannot be asked. */
  queueCounts(queues: Iterable<Queue>): Promise<Map<Queue, QueueCounts | null>>;
  /** brokerctl sync_queue / cancel_sync_queue, run by the queue's master: its answer (absent on a single node) */
  syncQueue?(q: Queue, cancel: boolean): Promise<string>;
  /**
   * The other members' connections, channels or consumers (listings.ts), as each of them lists its own for this viewer;
   * members that cannot be asked, or run no management listener, add nothing. Absent on a single node.
   */
  gather?(what: ListingKind, viewer: Viewer, vhost?: string): Promise<Record<string, unknown>[]>;
  /** Closes a connection on another member; false if it has none by that name the viewer may see. */
  closeConnection?(node: string, name: string, reason: string, viewer: Viewer): Promise<boolean>;
}

/** Counts read off this node's own queue objects. */
export function localCounts(queues: Iterable<Queue>): Map<Queue, QueueCounts | null> {
  const out = new Map<Queue, QueueCounts | null>();
  for (const q of queues) out.set(q, q.counts());
  return out;
}

/** A cluster of one: this node, disc when it keeps definitions on disk, ram when in memory; queues are local. */
export function localClusterView(broker: Broker): ClusterView {
  return {
    nodes: () => [{ name: broker.opts.nodeName, type: broker.definitions.durable ? 'disc' : 'ram', running: broker.running, partitions: [] }],
    queueLocation: () => ({ node: broker.opts.nodeName, mirrors: [], synchronisedMirrors: [] }),
    queueCounts: (queues) => Promise.resolve(localCounts(queues)),
  };
}
