// The broker node: vhosts, users, permissions, listeners, stores, the memory alarm. Connections and channels do the
// protocol; this holds the state they share.
import { createServer, type Server, type Socket } from 'node:net';
import { hostname, totalmem } from 'node:os';
import { EventEmitter } from 'node:events';
import type { FieldTable } from '../amqp/reader.ts';
import { VHost, key, type VHostContext } from './vhost.ts';
import { Connection } from './connection.ts';
import { MemoryStore } from '../store/memory-store.ts';
import { SegmentStore } from '../store/segment-store.ts';
import { DEFAULT_DISK_FREE_LIMIT_BYTES, DiskMonitor, type DiskFreeLimit } from './disk-monitor.ts';
import { JournalDefinitionsStore, MemoryDefinitionsStore, type DefinitionsStore, type DefKind } from '../store/definitions-store.ts';
import type { DurableWaiter, MessageStore } from '../store/message-store.ts';
import { CompiledPermission, hashPassword, type Permission, type User } from '../auth/users.ts';
import { validatePolicy, type PolicyDef } from '../policy/policy.ts';
import { Message } from '../queue/message.ts';
import type { PromotionReason, Queue, QueueRates } from '../queue/queue.ts';
import type { QueuePids } from '../queue/pids.ts';
import type { MetaCommand, MetadataReplicator } from '../cluster/metadata.ts';
import { reconcile } from '../cluster/state.ts';
import type { RemoteQueues } from '../cluster/remote-queues.ts';
import type { ListingKind, Viewer } from '../mgmt/viewer.ts';

export interface BrokerOptions {
  /** AMQP port; 0 picks a free one. Default 5672. */
  port?: number;
  host?: string;
  /** Directory for durable definitions and persistent messages; omitted = in memory only. */
  dataDir?: string | undefined;
  nodeName?: string;
  defaultUser?: string;
  defaultPass?: string;
  defaultVhost?: string;
  /** users that may only connect from loopback (RabbitMQ loopback_users). Default ['guest']. */
  loopbackUsers?: string[];
  /** seconds; 0 disables. Default 60. */
  heartbeat?: number;
  frameMax?: number;
  channelMax?: number;
  /** fraction of total memory (<= 1) or absolute bytes (> 1). Default 0.4 */
  memoryHighWatermark?: number;
  /** ms between memory checks. Default 1000 */
  memoryCheckIntervalMs?: number;
  /** free disc space below which publishers are blocked (RabbitMQ disk_free_limit). Default 50 MB */
  diskFreeLimit?: DiskFreeLimit;
  log?: (line: string) => void;
  /** Metadata comes from the cluster's replicated log, not from local definitions (set by the cluster service). */
  clustered?: boolean;
  /** Stores to use instead of creating them from dataDir (a node keeps them across stop_app/start_app). */
  stores?: { messages: MessageStore; definitions: DefinitionsStore };
  /** false: no AMQP listener (an in-process simulation drives the broker without sockets). Default true. */
  listen?: boolean;
}

export interface ResolvedOptions {
  port: number;
  host: string | undefined;
  dataDir: string | undefined;
  nodeName: string;
  defaultUser: string;
  defaultPass: string;
  defaultVhost: string;
  loopbackUsers: string[];
  heartbeat: number;
  frameMax: number;
  channelMax: number;
  memoryHighWatermark: number;
  memoryCheckIntervalMs: number;
  diskFreeLimit: DiskFreeLimit;
  log: (line: string) => void;
  listen: boolean;
}

export { PRODUCT, VERSION, WARREN_VERSION } from './version.ts';

let nextConnectionId = 1;

/** How soon a cluster retries deleting an unused queue (exclusive, auto-delete, x-expires) after the log refused. */
const UNUSED_QUEUE_RETRY_MS = 2000;

/** A node's management listener, as other members ask it (mgmt/listings.ts). */
export interface ManagementAgent {
  list(what: ListingKind, viewer: Viewer, vhost?: string): Record<string, unknown>[];
  /** closes a connection of this node the viewer may see; false if there is none by that name */
  close(name: string, reason: string, viewer: Viewer): Promise<boolean>;
}

export class Broker extends EventEmitter implements VHostContext {
  readonly opts: ResolvedOptions;
  readonly vhosts = new Map<string, VHost>();
  readonly users = new Map<string, User>();
  readonly permissions = new Map<string, Permission>();
  readonly parameters = new Map<string, unknown>();
  readonly connections = new Set<Connection>();
  messageStore: MessageStore;
  definitions: DefinitionsStore;
  clusterName: string;
  /**
   * Nodes removed from the cluster with forget_cluster_node that have not joined again since (replicated metadata): a
   * forgotten ram node that starts with its old cluster.json is refused, as RabbitMQ's inconsistent_cluster.
   */
  forgottenNodes = new Set<string>();
  private server: Server | null = null;
  private permCache = new Map<string, CompiledPermission>();
  memoryAlarm = false;
  /** the free disc space alarm, for a node with a data directory */
  disk: DiskMonitor | null = null;
  memoryLimit = 0;
  private memoryTimer: NodeJS.Timeout | null = null;
  running = false;
  readonly clustered: boolean;
  readonly startedAt = Date.now();
  /** set when this node is part of a cluster: metadata changes go through the replicated log */
  replicator: MetadataReplicator | null = null;
  /** set when this node is part of a cluster: carries messages to queues on other nodes */
  forwarder: ((q: Queue, msg: Message, waiter: DurableWaiter | null, token: number) => boolean) | null = null;

  /**
   * set while the management statistics run: a queue's rates as sampled here. Other nodes ask for them with the
   * counts of the queues this node masters.
   */
  queueRates: ((q: Queue) => QueueRates) | null = null;

  /**
   * set while the management listener runs: this node's connections, channels and consumers, and closing one of its
   * connections, for the management API of another member listing the whole cluster (mgmt/listings.ts)
   */
  management: ManagementAgent | null = null;

  /** set when this node is part of a cluster: reacts to a mirror promotion */
  onQueueMoved: ((q: Queue, from: string, why?: PromotionReason) => void) | null = null;

  queueMoved(q: Queue, from: string, why?: PromotionReason): void {
    this.onQueueMoved?.(q, from, why);
    // mastered here now: its x-expires runs here
    if (q.node === this.localNode) q.touch();
  }

  /** set when this node is part of a cluster: a queue's pids, on its master (queue/pids.ts) */
  queuePids: ((q: Queue) => QueuePids | null) | null = null;

  /** set when this node is part of a cluster: the log's record of a queue's synchronised mirrors changed */
  onQueueMirrorsChanged: ((q: Queue) => void) | null = null;

  queueMirrorsChanged(q: Queue): void {
    this.onQueueMirrorsChanged?.(q);
  }

  /**
   * A clustered node's app just started: the log still holds the queues this node mastered before, among them its
   * exclusive queues (their connections are gone, and a new connection could take an old owner's id) and its
   * non-durable queues that have no mirrors (their messages are gone). They are deleted, as RabbitMQ deletes a node's
   * transient queues when it goes down. (A mirrored one is left to the promotion of a mirror holding its messages.)
   */
  dropTransientQueues(): void {
    for (const vh of this.vhosts.values()) {
      for (const q of [...vh.queues.values()]) {
        if (q.node !== this.localNode) continue;
        if (q.exclusive || (!q.durable && !q.mirroredByPolicy)) this.queueUnused(q, () => true);
      }
    }
  }

  queueUnused(q: Queue, stillUnused: () => boolean): void {
    const vh = this.vhosts.get(q.vhost);
    if (vh === undefined || vh.queues.get(q.name) !== q) return;
    if (this.replicator === null) {
      vh.removeQueue(q);
      return;
    }
    // Every node holds the queue: it goes by the log, as the master's node decides. The other nodes' stand-ins see
    // none of its consumers or use, so their timers and counts say nothing (their x-expires timer re-arms, in case
    // the queue moves here).
    if (q.node !== this.localNode) {
      q.touch();
      return;
    }
    this.replicator.propose({ op: 'queue.delete', vhost: q.vhost, name: q.name }).catch((err: unknown) => {
      // (no disc node reachable, a minority): the queue stays until a retry goes through
      this.log(`unused queue '${q.name}' in vhost '${q.vhost}' not deleted yet: ${(err as Error).message}`);
      const retry = setTimeout(() => {
        if (this.running && stillUnused()) this.queueUnused(q, stillUnused);
      }, UNUSED_QUEUE_RETRY_MS);
      retry.unref();
    });
  }

  /** set when this node is part of a cluster: consuming from queues on other nodes */
  remoteQueues: RemoteQueues | null = null;

  forward(q: Queue, msg: Message, waiter: DurableWaiter | null, token: number): boolean {
    return this.forwarder !== null && this.forwarder(q, msg, waiter, token);
  }

  constructor(options: BrokerOptions = {}) {
    super();
    const host = hostname().split('.')[0] ?? 'localhost';
    this.opts = {
      port: options.port ?? 5672,
      host: options.host,
      dataDir: options.dataDir,
      nodeName: options.nodeName ?? `rabbit@${host}`,
      defaultUser: options.defaultUser ?? 'guest',
      defaultPass: options.defaultPass ?? 'guest',
      defaultVhost: options.defaultVhost ?? '/',
      loopbackUsers: options.loopbackUsers ?? ['guest'],
      heartbeat: options.heartbeat ?? 60,
      frameMax: options.frameMax ?? 131072,
      channelMax: options.channelMax ?? 2047,
      memoryHighWatermark: options.memoryHighWatermark ?? 0.4,
      memoryCheckIntervalMs: options.memoryCheckIntervalMs ?? 1000,
      diskFreeLimit: options.diskFreeLimit ?? DEFAULT_DISK_FREE_LIMIT_BYTES,
      log: options.log ?? (() => {}),
      listen: options.listen ?? true,
    };
    this.clusterName = this.opts.nodeName;
    this.clustered = options.clustered === true;
    const stores = options.stores ?? createStores(this.opts.dataDir, options.log);
    this.messageStore = stores.messages;
    this.definitions = stores.definitions;
  }

  now(): number {
    return Date.now();
  }

  get localNode(): string {
    return this.opts.nodeName;
  }

  /**
   * The carrier to q's master when that is on another node (what this node holds of the queue is a stand-in with none
   * of its messages or consumers: counts, purges and gets go to the master), else null.
   */
  elsewhere(q: Queue): RemoteQueues | null {
    return this.remoteQueues !== null && q.node !== '' && q.node !== this.localNode ? this.remoteQueues : null;
  }

  log(line: string): void {
    this.opts.log(line);
  }

  // ---- lifecycle

  /** Loads definitions and messages, then listens. beforeListen runs in between (a clustered node catches up there). */
  async start(beforeListen?: () => Promise<void>): Promise<void> {
    if (this.running) return;
    this.boot();
    if (beforeListen) await beforeListen();
    if (this.opts.listen) await this.listen();
    this.running = true;
    this.startMemoryMonitor();
    this.startDiskMonitor();
    this.log(`node ${this.opts.nodeName} accepting AMQP connections on ${this.address()}`);
  }

  /** Rebuilds in-memory state from the definitions and message stores. */
  boot(): void {
    // a clustered node gets its metadata from the replicated log once it starts (cluster/cluster-service.ts)
    if (this.clustered) return;
    const defs = this.definitions.load();
    const firstBoot = (defs.get('user')?.size ?? 0) === 0 && (defs.get('vhost')?.size ?? 0) === 0;
    this.definitions.muted = true;
    try {
      this.replay(defs);
    } finally {
      this.definitions.muted = false;
    }
    if (firstBoot) {
      // first boot: default vhost and user (RabbitMQ default_user/default_pass)
      this.addVhost(this.opts.defaultVhost);
      this.putUser({ name: this.opts.defaultUser, passwordHash: hashPassword(this.opts.defaultPass), tags: ['administrator'] });
      this.setPermission({ user: this.opts.defaultUser, vhost: this.opts.defaultVhost, configure: '.*', write: '.*', read: '.*' });
    }
  }

  private replay(defs: Map<string, Map<string, unknown>>): void {
    const get = (k: DefKind): Map<string, unknown> => defs.get(k) ?? new Map();
    const g = get('global').get('cluster_name');
    if (typeof g === 'string') this.clusterName = g;
    for (const v of get('vhost').values()) this.vhostFromRecord(v as { name: string });
    for (const u of get('user').values()) this.users.set((u as User).name, u as User);
    for (const p of get('permission').values()) {
      const perm = p as Permission;
      this.permissions.set(key(perm.user, perm.vhost), perm);
    }
    for (const [k, v] of get('parameter')) this.parameters.set(k, v);
    for (const p of get('policy').values()) {
      const pol = p as PolicyDef;
      this.vhosts.get(pol.vhost)?.policies.set(pol.name, pol);
    }
    for (const e of get('exchange').values()) {
      const r = e as { vhost: string; name: string; type: string; durable: boolean; auto_delete: boolean; internal: boolean; arguments: FieldTable };
      const vh = this.vhosts.get(r.vhost);
      if (!vh || vh.exchanges.has(r.name)) continue;
      vh.declareExchange(r.name, r.type, true, r.auto_delete, r.internal, r.arguments, false);
    }
    for (const q of get('queue').values()) {
      const r = q as { vhost: string; name: string; auto_delete: boolean; arguments: FieldTable };
      const vh = this.vhosts.get(r.vhost);
      if (!vh) continue;
      vh.declareQueue({ name: r.name, durable: true, exclusive: false, autoDelete: r.auto_delete, arguments: r.arguments, passive: false, owner: 0 });
    }
    for (const b of get('binding').values()) {
      const r = b as { vhost: string; source: string; destination: string; destination_type: string; routing_key: string; arguments: FieldTable };
      const vh = this.vhosts.get(r.vhost);
      const src = vh?.exchanges.get(r.source);
      const dest = r.destination_type === 'queue' ? vh?.queues.get(r.destination) : vh?.exchanges.get(r.destination);
      if (vh && src && dest) vh.bind(src, dest, r.routing_key, r.arguments);
    }
    for (const vh of this.vhosts.values()) vh.reapplyPolicies();
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
      server.once('error', reject);
      server.listen({ port: this.opts.port, host: this.opts.host }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.log(`listener error: ${err.message}`));
        resolve();
      });
      this.server = server;
    });
  }

  address(): string {
    const a = this.server?.address();
    if (a && typeof a === 'object') return `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
    return '';
  }

  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  private accept(socket: Socket): void {
    const conn = new Connection(this, socket, nextConnectionId++);
    this.connections.add(conn);
    socket.once('close', () => this.connections.delete(conn));
  }

  /** Stops accepting, closes connections with 320 CONNECTION_FORCED, flushes stores. */
  async stop(reason = 'broker shutdown'): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.memoryTimer) clearInterval(this.memoryTimer);
    this.memoryTimer = null;
    this.disk?.stop();
    const server = this.server;
    this.server = null;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    await Promise.all([...this.connections].map((c) => c.forceClose(reason)));
    await closed;
    for (const vh of this.vhosts.values()) vh.stop();
    await this.messageStore.close();
    this.definitions.close();
    this.log(`node ${this.opts.nodeName} stopped`);
  }

  /** Stop the app and forget everything (rabbitmqctl reset). Requires a stopped app. */
  resetState(): void {
    this.vhosts.clear();
    this.users.clear();
    this.permissions.clear();
    this.parameters.clear();
    this.permCache.clear();
  }

  // ---- memory alarm (RabbitMQ vm_memory_high_watermark)

  private startMemoryMonitor(): void {
    const wm = this.opts.memoryHighWatermark;
    // node's heap is what grows with queued messages; rss also counts buffers
    // constrainedMemory() is the cgroup limit, or a huge number when there is none
    const constrained = Number(process.constrainedMemory?.() || 0);
    const total = constrained > 0 ? Math.min(constrained, totalmem()) : totalmem();
    this.memoryLimit = wm <= 1 ? Math.floor(total * wm) : wm;
    this.memoryTimer = setInterval(() => this.checkMemory(), this.opts.memoryCheckIntervalMs);
    this.memoryTimer.unref();
  }

  /**
   * rabbitmqctl set_vm_memory_high_watermark: a new threshold at run time, as a fraction of the memory available or
   * (absolute) in bytes; the alarm is re-evaluated at once, as RabbitMQ's vm_memory_monitor does. Not kept across a
   * restart (RabbitMQ neither).
   */
  setMemoryHighWatermark(value: number, absolute: boolean): void {
    this.opts.memoryHighWatermark = value;
    if (absolute) this.memoryLimit = Math.floor(value);
    else {
      const constrained = Number(process.constrainedMemory?.() || 0);
      const total = constrained > 0 ? Math.min(constrained, totalmem()) : totalmem();
      this.memoryLimit = Math.floor(total * value);
    }
    this.log(`Memory high watermark set to ${Math.round(this.memoryLimit / 1048576)} MiB (${this.memoryLimit} bytes)${absolute ? '' : ` of ${value} of available memory`}`);
    this.checkMemory();
  }

  checkMemory(): void {
    const used = process.memoryUsage.rss();
    if (!this.memoryAlarm && used > this.memoryLimit) {
      this.memoryAlarm = true;
      this.log(`memory resource limit alarm set on node ${this.opts.nodeName}: ${used} bytes used, limit ${this.memoryLimit}. Publishers will be blocked until this alarm clears`);
      for (const c of this.connections) c.alarmChanged(true);
    } else if (this.memoryAlarm && used < this.memoryLimit) {
      this.memoryAlarm = false;
      this.log(`memory resource limit alarm cleared on node ${this.opts.nodeName}`);
      for (const c of this.connections) c.alarmChanged(false);
    }
  }

  // ---- free disc space alarm (RabbitMQ disk_free_limit): server/disk-monitor.ts

  get diskAlarm(): boolean {
    return this.disk?.alarm ?? false;
  }

  private startDiskMonitor(): void {
    const dir = this.opts.dataDir;
    if (dir === undefined) return;
    if (this.disk === null) {
      this.disk = new DiskMonitor(dir, this.opts.diskFreeLimit, (on) => {
        for (const c of this.connections) c.alarmChanged(on);
      }, (line) => this.log(line));
      const store = this.messageStore;
      // a write that failed for want of space blocks publishers at once; the checks clear it once space is back
      if (store instanceof SegmentStore) {
        store.onFault((code) => {
          if ((code === 'ENOSPC' || code === 'EDQUOT') && this.running) this.disk?.noSpace();
        });
      }
    }
    this.disk.start();
  }

  // ---- vhosts, users, permissions, policies

  private vhostFromRecord(r: { name: string }): VHost {
    let vh = this.vhosts.get(r.name);
    if (!vh) {
      vh = new VHost(r.name, this);
      vh.onQueueDeleted = (q) => this.emit('queue-deleted', q);
      this.vhosts.set(r.name, vh);
    }
    return vh;
  }

  addVhost(name: string): VHost {
    if (this.vhosts.has(name)) throw new Error(`vhost '${name}' already exists`);
    const vh = this.vhostFromRecord({ name });
    this.definitions.put('vhost', name, { name });
    return vh;
  }

  deleteVhost(name: string): void {
    const vh = this.vhosts.get(name);
    if (!vh) throw new Error(`vhost '${name}' does not exist`);
    for (const c of [...this.connections]) if (c.vhost === vh) void c.forceClose(`vhost '${name}' is deleted`);
    for (const q of [...vh.queues.values()]) vh.removeQueue(q);
    for (const ex of [...vh.exchanges.values()]) if (ex.durable && ex.name !== '' && !ex.name.startsWith('amq.')) vh.deleteExchange(ex.name, false);
    for (const p of [...vh.policies.keys()]) this.definitions.remove('policy', key(name, p));
    for (const p of [...this.permissions.values()]) if (p.vhost === name) this.clearPermission(p.user, name);
    this.vhosts.delete(name);
    this.definitions.remove('vhost', name);
  }

  putUser(u: User): void {
    this.users.set(u.name, u);
    this.definitions.put('user', u.name, u);
  }

  deleteUser(name: string): void {
    if (!this.users.has(name)) throw new Error(`user '${name}' does not exist`);
    this.users.delete(name);
    this.definitions.remove('user', name);
    for (const p of [...this.permissions.values()]) if (p.user === name) this.clearPermission(name, p.vhost);
    for (const c of [...this.connections]) if (c.user?.name === name) void c.forceClose(`user '${name}' was deleted`);
  }

  setPermission(p: Permission): void {
    for (const re of [p.configure, p.write, p.read]) new RegExp(re); // throws on a bad regex
    this.permissions.set(key(p.user, p.vhost), p);
    this.permCache.delete(key(p.user, p.vhost));
    this.definitions.put('permission', key(p.user, p.vhost), p);
    this.refreshConnectionPermissions(p.user, p.vhost);
  }

  clearPermission(user: string, vhost: string): void {
    this.permissions.delete(key(user, vhost));
    this.permCache.delete(key(user, vhost));
    this.definitions.remove('permission', key(user, vhost));
    this.refreshConnectionPermissions(user, vhost);
  }

  private refreshConnectionPermissions(user: string, vhost: string): void {
    for (const c of this.connections) {
      if (c.user?.name === user && c.vhost?.name === vhost) c.perm = this.permissionFor(user, vhost);
    }
  }

  permissionFor(user: string, vhost: string): CompiledPermission | null {
    const k = key(user, vhost);
    let c = this.permCache.get(k);
    if (c) return c;
    const p = this.permissions.get(k);
    if (!p) return null;
    c = new CompiledPermission(p);
    this.permCache.set(k, c);
    return c;
  }

  setPolicy(p: PolicyDef): void {
    validatePolicy(p);
    const vh = this.vhosts.get(p.vhost);
    if (!vh) throw new Error(`vhost '${p.vhost}' does not exist`);
    vh.policies.set(p.name, p);
    this.definitions.put('policy', key(p.vhost, p.name), p);
    vh.reapplyPolicies();
    this.emit('policy-changed', vh);
  }

  clearPolicy(vhost: string, name: string): void {
    const vh = this.vhosts.get(vhost);
    if (!vh || !vh.policies.has(name)) throw new Error(`policy '${name}' not found in vhost '${vhost}'`);
    vh.policies.delete(name);
    this.definitions.remove('policy', key(vhost, name));
    vh.reapplyPolicies();
    this.emit('policy-changed', vh);
  }

  setClusterName(name: string): void {
    this.clusterName = name;
    this.definitions.put('global', 'cluster_name', name);
  }

  // ---- metadata commands (cluster/metadata.ts)

  /** Makes a metadata change: applied here at once on a single node, replicated first in a cluster. */
  change(cmd: MetaCommand): Promise<void> {
    if (this.replicator !== null) return this.replicator.propose(cmd);
    try {
      this.applyMeta(cmd);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Applies a committed metadata command to this node's state. Throws only on a single node (the caller's error). */
  applyMeta(cmd: MetaCommand): void {
    switch (cmd.op) {
      case 'vhost.add':
        if (!this.vhosts.has(cmd.name)) this.addVhost(cmd.name);
        return;
      case 'vhost.delete':
        if (this.vhosts.has(cmd.name)) this.deleteVhost(cmd.name);
        return;
      case 'user.put':
        return this.putUser(cmd.user);
      case 'user.delete':
        if (this.users.has(cmd.name)) this.deleteUser(cmd.name);
        return;
      case 'permission.set':
        return this.setPermission(cmd.permission);
      case 'permission.clear':
        return this.clearPermission(cmd.user, cmd.vhost);
      case 'policy.set':
        return this.setPolicy(cmd.policy);
      case 'policy.clear':
        if (this.vhosts.get(cmd.vhost)?.policies.has(cmd.name)) this.clearPolicy(cmd.vhost, cmd.name);
        return;
      case 'cluster.name':
        return this.setClusterName(cmd.name);
      case 'node.forget':
        this.forgottenNodes.add(cmd.node);
        return;
      case 'node.rejoin':
        this.forgottenNodes.delete(cmd.node);
        return;
      case 'load':
        return reconcile(this, cmd.state);
      case 'barrier':
        return;
      default: {
        const vh = this.vhosts.get(cmd.vhost);
        if (!vh) throw new Error(`vhost '${cmd.vhost}' does not exist`);
        vh.applyMeta(cmd);
      }
    }
  }

  /** Publishes from outside AMQP (management API, brokerctl); returns the number of queues it reached. */
  publishLocal(vhost: string, exchange: string, routingKey: string, properties: Message['properties'], body: Buffer): number {
    const vh = this.vhosts.get(vhost);
    if (!vh) throw new Error(`vhost '${vhost}' does not exist`);
    const ex = vh.getExchange(exchange);
    return vh.publish(ex, new Message(exchange, routingKey, properties, null, body, this.now())).routed;
  }
}

export function createStores(dataDir: string | undefined, log?: (line: string) => void): { messages: MessageStore; definitions: DefinitionsStore } {
  return dataDir
    ? { messages: new SegmentStore(`${dataDir}/msgs`, log !== undefined ? { log } : {}), definitions: new JournalDefinitionsStore(dataDir, log) }
    : { messages: new MemoryStore(), definitions: new MemoryDefinitionsStore() };
}
