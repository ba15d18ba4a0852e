// Cluster metadata commands. On a single node they are applied at once; in a cluster every change is proposed to
// the replicated metadata log and applied, in log order, on every node (the proposing node included) once committed.
// apply must be deterministic: a command that no longer makes sense (the object changed in between) is skipped and
// logged on every node alike.
import type { FieldTable } from '../amqp/reader.ts';
import type { Permission, User } from '../auth/users.ts';
import type { PolicyDef } from '../policy/policy.ts';

export type MetaCommand =
  | { op: 'exchange.declare'; vhost: string; name: string; type: string; durable: boolean; autoDelete: boolean; internal: boolean; args: FieldTable }
  | { op: 'exchange.delete'; vhost: string; name: string }
  | { op: 'queue.declare'; vhost: string; name: string; durable: boolean; exclusive: boolean; autoDelete: boolean; args: FieldTable; node: string; owner: number }
  | { op: 'queue.delete'; vhost: string; name: string }
  /**
   * a mirror on `to` becomes the master of a queue whose master on `from` was lost (or is shutting down). With
   * `epoch` and `version`, only in that master epoch and on that version of the mirrors record (compare and set): a
   * mirror that proposed while it was cut off from everyone must not take over once it is back, after the master
   * dropped it from the record and recorded it again as it caught up
   */
  | { op: 'queue.promote'; vhost: string; name: string; from: string; to: string; shutdown?: boolean; epoch?: number; version?: number }
  /**
   * the master on `master` records which mirrors hold every message; applied only on the record version it was based
   * on (compare and set: a stale proposal, from before a restart say, can never apply later), making it base + 1
   */
  | { op: 'queue.mirrors'; vhost: string; name: string; master: string; epoch: number; base: number; synced: string[] }
  | { op: 'bind' | 'unbind'; vhost: string; source: string; destKind: 'queue' | 'exchange'; dest: string; routingKey: string; args: FieldTable }
  | { op: 'vhost.add'; name: string }
  | { op: 'vhost.delete'; name: string }
  | { op: 'user.put'; user: User }
  | { op: 'user.delete'; name: string }
  | { op: 'permission.set'; permission: Permission }
  | { op: 'permission.clear'; user: string; vhost: string }
  | { op: 'policy.set'; policy: PolicyDef }
  | { op: 'policy.clear'; vhost: string; name: string }
  | { op: 'cluster.name'; name: string }
  /** forget_cluster_node removed `node`: its ram node's next start is refused until it joins again (join_cluster) */
  | { op: 'node.forget'; node: string }
  /** a forgotten node joins again (after its reset) */
  | { op: 'node.rejoin'; node: string }
  /** the whole metadata at once: the first entry of a new cluster carries the founding node's state */
  | { op: 'load'; state: MetadataState }
  /** changes nothing; committing it shows this node has applied everything before it */
  | { op: 'barrier' };

/** The cluster metadata as one value: what the Raft log's state machine is (cluster/state.ts reads and applies it). */
export interface MetadataState {
  clusterName: string;
  /** nodes removed with forget_cluster_node that have not joined again (absent when none) */
  forgotten?: string[];
  vhosts: string[];
  users: User[];
  permissions: Permission[];
  policies: PolicyDef[];
  exchanges: { vhost: string; name: string; type: string; durable: boolean; autoDelete: boolean; internal: boolean; args: FieldTable }[];
  queues: { vhost: string; name: string; durable: boolean; exclusive: boolean; autoDelete: boolean; args: FieldTable; owner: number; node: string; mirrors?: { epoch: number; version: number; synced: string[] } }[];
  bindings: { vhost: string; source: string; destKind: 'queue' | 'exchange'; dest: string; routingKey: string; args: FieldTable }[];
}

/** Replicates metadata commands; propose resolves once the command is committed and applied on this node. */
export interface MetadataReplicator {
  propose(cmd: MetaCommand): Promise<void>;
}

/** The error a metadata change gets when no disc node can record it. */
export class NoDiscNodeError extends Error {
  constructor(detail: string) {
    super(`metadata change refused: no running disc node can record it, a majority of the disc nodes must be up (${detail}); publishing and consuming go on`);
  }
}
