// The cluster metadata as one value: what the Raft log's state machine is. export() reads it from a broker;
// reconcile() makes a broker's state equal to it without disturbing what already matches (a queue that exists keeps
// its messages and consumers).
import type { Permission, User } from '../auth/users.ts';
import type { Queue } from '../queue/queue.ts';
import { key, type VHost } from '../server/vhost.ts';
import type { MetadataState } from './metadata.ts';

export type { MetadataState };

/**
 * What exportState and reconcile read and change of a broker (server/broker.ts's Broker is one). Named here, not
 * imported, so this module sits below the broker: the broker applies a 'load' command through reconcile.
 */
export interface MetadataHost {
  clusterName: string;
  /** nodes removed with forget_cluster_node that have not joined again */
  forgottenNodes: Set<string>;
  readonly vhosts: Map<string, VHost>;
  readonly users: Map<string, User>;
  readonly permissions: Map<string, Permission>;
  setClusterName(name: string): void;
  addVhost(name: string): VHost;
  deleteVhost(name: string): void;
  putUser(u: User): void;
  deleteUser(name: string): void;
  setPermission(p: Permission): void;
  clearPermission(user: string, vhost: string): void;
  queueMoved(q: Queue, from: string): void;
}

const BUILTIN = (name: string): boolean => name === '' || name.startsWith('amq.');

export function exportState(b: MetadataHost): MetadataState {
  const s: MetadataState = { clusterName: b.clusterName, vhosts: [], users: [...b.users.values()], permissions: [...b.permissions.values()], policies: [], exchanges: [], queues: [], bindings: [] };
  if (b.forgottenNodes.size > 0) s.forgotten = [...b.forgottenNodes].sort();
  for (const vh of b.vhosts.values()) {
    s.vhosts.push(vh.name);
    s.policies.push(...vh.policies.values());
    for (const ex of vh.exchanges.values()) {
      if (!BUILTIN(ex.name)) s.exchanges.push({ vhost: vh.name, name: ex.name, type: ex.type, durable: ex.durable, autoDelete: ex.autoDelete, internal: ex.internal, args: ex.arguments });
    }
    for (const q of vh.queues.values()) {
      const entry: MetadataState['queues'][number] = { vhost: vh.name, name: q.name, durable: q.durable, exclusive: q.exclusive, autoDelete: q.autoDelete, args: q.arguments, owner: q.owner, node: q.node };
      if (q.masterEpoch !== 0 || q.mirrorsVersion !== 0) entry.mirrors = { epoch: q.masterEpoch, version: q.mirrorsVersion, synced: [...q.syncedMirrors] };
      s.queues.push(entry);
    }
    for (const bd of vh.listBindings()) {
      s.bindings.push({ vhost: vh.name, source: bd.source, destKind: bd.destination.kind, dest: bd.destination.name, routingKey: bd.routingKey, args: bd.arguments });
    }
  }
  return s;
}

/** Makes the broker's metadata equal to s. */
export function reconcile(b: MetadataHost, s: MetadataState): void {
  if (b.clusterName !== s.clusterName) b.setClusterName(s.clusterName);
  b.forgottenNodes = new Set(s.forgotten ?? []);
  for (const name of [...b.vhosts.keys()]) if (!s.vhosts.includes(name)) b.deleteVhost(name);
  for (const name of s.vhosts) if (!b.vhosts.has(name)) b.addVhost(name);
  const users = new Set(s.users.map((u) => u.name));
  for (const name of [...b.users.keys()]) if (!users.has(name)) b.deleteUser(name);
  for (const u of s.users) b.putUser(u);
  const perms = new Set(s.permissions.map((p) => key(p.user, p.vhost)));
  for (const p of [...b.permissions.values()]) if (!perms.has(key(p.user, p.vhost))) b.clearPermission(p.user, p.vhost);
  for (const p of s.permissions) b.setPermission(p);
  for (const vh of b.vhosts.values()) {
    const pols = s.policies.filter((p) => p.vhost === vh.name);
    vh.policies.clear();
    for (const p of pols) vh.policies.set(p.name, p);
    // bindings are rebuilt from scratch: cheap, and it keeps them exactly as in s
    for (const ex of vh.exchanges.values()) for (const bd of [...ex.bindings.values()]) ex.unbind(bd.key);
    const exs = new Set(s.exchanges.filter((e) => e.vhost === vh.name).map((e) => e.name));
    for (const ex of [...vh.exchanges.values()]) if (!BUILTIN(ex.name) && !exs.has(ex.name)) vh.deleteExchange(ex.name, false);
    for (const e of s.exchanges) if (e.vhost === vh.name && !vh.exchanges.has(e.name)) vh.declareExchange(e.name, e.type, e.durable, e.autoDelete, e.internal, e.args, false);
    const qs = new Set(s.queues.filter((q) => q.vhost === vh.name).map((q) => q.name));
    for (const q of [...vh.queues.values()]) if (!qs.has(q.name)) vh.removeQueue(q);
    for (const q of s.queues) {
      if (q.vhost !== vh.name) continue;
      const have = vh.queues.get(q.name);
      if (have === undefined) vh.applyMeta({ op: 'queue.declare', vhost: q.vhost, name: q.name, durable: q.durable, exclusive: q.exclusive, autoDelete: q.autoDelete, args: q.args, owner: q.owner, node: q.node });
      const cur = have ?? vh.queues.get(q.name);
      if (cur === undefined) continue;
      cur.masterEpoch = q.mirrors?.epoch ?? 0;
      cur.mirrorsVersion = q.mirrors?.version ?? 0;
      cur.syncedMirrors = q.mirrors?.synced ?? [];
      if (have !== undefined && have.node !== q.node) {
        // a promotion this node missed (it caught up from a snapshot): as if it had applied it
        const from = have.node;
        have.node = q.node;
        b.queueMoved(have, from);
      }
    }
    for (const bd of s.bindings) {
      if (bd.vhost !== vh.name) continue;
      try {
        vh.applyMeta({ op: 'bind', ...bd });
      } catch {
        /* a binding whose ends are gone: skipped alike on every node */
      }
    }
    vh.reapplyPolicies();
  }
}
