// The node's distribution port: one PeerManager carries brokerctl's control requests and, once the node is part of a
// cluster, the Raft messages that replicate metadata among the nodes.
//
// Joining (brokerctl join_cluster [--ram] rabbit@a, run on b with b's app stopped):
//   b -> a  {type: 'join', node: b, role: voter|learner}
//   a       if a is not clustered yet: bootstraps a Raft cluster of itself and commits {op: 'load', state} carrying
//           its current metadata as the first command; then commits the membership change adding b
//   a -> b  {ok, members}
//   b       forgets its own metadata and messages (like reset), records the members in DATA/cluster.json, and on
//           start_app starts Raft with empty storage: the leader sends it the log (or a snapshot).
// Disc nodes are Raft voters with the log on disc (DATA/raft). Ram nodes are Raft voters too, with the log in memory:
// each start of a ram node's app is a new Raft member, `rabbit@b#<incarnation>`, that never restarts (Ongaro §4.1:
// a server that lost its storage rejoins as a new server), so its vote and its acknowledgements are never forgotten
// by a member that goes on counting:
//   b (app starting)  -> any member  {type: 'ramjoin', node: b, id: rabbit@b#x}
//   that member       records b's earlier members as gone for good, removes them from the membership, then adds
//                     rabbit@b#x as a voter once caught up (a learner marked promoting until then)
// A ram node whose app stops gracefully hands its vote back first (its member becomes the plain `rabbit@b` learner
// that only lists it). A disc node that knows no leader, and whose every other voter is gone for good (a ram member
// of a process that restarted) or was a disc node down before it (last down, first up), takes the membership alone
// (RaftNode.overrideMembership): see the README's Metadata section for what that can lose.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PeerManager, TcpTransport, readCookieFile, systemClock, cryptoRandom, type Address, type Clock, type PeerLink, type Random, type Transport } from '@warren/cluster-peer';
import type { BrokerNode } from '../server/node.ts';
import type { Broker } from '../server/broker.ts';
import { CommandError, type CommandRequest, type CommandResult, type ControlReply } from '../server/control-protocol.ts';
import { claimNode, lookupNode, registerDataDir, registerNode, unregisterNode, DEFAULT_DIST_PORT, PEER_HEARTBEAT_TICK_MS } from '../server/node-registry.ts';
import { RaftNode, MemoryStorage, FileStorage, NoLeaderError, RaftError, type RaftMessage, type RaftStorage, type Membership } from './raft/index.ts';
import { exportState, reconcile, type MetadataState } from './state.ts';
import { NoDiscNodeError, type MetaCommand } from './metadata.ts';
import { RemoteQueues, type WireMessage } from './remote-queues.ts';
import { Mirrors, masterEpochOf } from './mirrors.ts';
import type { ClusterView } from '../mgmt/cluster.ts';
import type { ListingKind, Viewer } from '../mgmt/viewer.ts';
import { isIP } from 'node:net';
import { PartitionMonitor, type PartitionHandling } from './partitions.ts';
import { RAM_MEMBER_SEP, isRamMember, memberNode } from './members.ts';

/** Peer link heartbeat tick between cluster nodes (see listen()); brokerctl beats at the same pace. */
export { PEER_HEARTBEAT_TICK_MS };
/** Peers take this much silence for a dead node (6 missed ticks). */
const PEER_DEAD_AFTER_MS = 6 * PEER_HEARTBEAT_TICK_MS;
/** An event-loop stall this long is logged: a longer one makes peers take this node for dead. */
export const STALL_WARN_MS = 1000;

/** How long start_app waits for the cluster (a disc node with the metadata) before it gives up (RabbitMQ waits 30 s x 10). */
export const CLUSTER_BOOT_WAIT_MS = Number(process.env['WARREN_CLUSTER_BOOT_WAIT_MS'] ?? 30_000);

export interface ClusterFile {
  /** every member when last seen, and its type */
  nodes: Record<string, 'disc' | 'ram'>;
  /** the cluster's name when this node's app last had the metadata (cluster_status while it waits for the cluster) */
  name?: string;
}

export type NodeType = 'disc' | 'ram';

export { memberNode };

/**
 * What a node's cluster layer takes from its surroundings, all optional: the binary uses TCP, the one-host node
 * registry, real time and crypto randomness, and keeps cluster.json and the disc node's Raft log under the data
 * directory. A simulator (test/sim) passes a simulated network, a fake clock, a seeded PRNG and a "disc" that lives
 * in memory and survives the simulated crash of the node.
 */
export interface ClusterEnvironment {
  transport?: Transport;
  /** node name -> distribution address; when given, the one-host registry (our epmd) is neither read nor written */
  resolve?: (node: string) => Address;
  /** for the peer links and Raft (the rest of the broker uses the global timers) */
  clock?: Clock;
  random?: Random;
  /** the cookie itself instead of the cookie file */
  cookie?: string;
  /** this node's cluster.json and Raft log, instead of files under the data directory (or memory without one) */
  disk?: ClusterDisk;
}

export interface ClusterDisk {
  loadClusterFile(): ClusterFile | null;
  saveClusterFile(f: ClusterFile | null): void;
  /** The Raft storage for a start of the app as a node of this type. */
  raftStorage(type: NodeType): RaftStorage;
  wipeRaft(): void;
}

export class ClusterService {
  readonly node: BrokerNode;
  private manager: PeerManager | null = null;
  raft: RaftNode | null = null;
  private readonly log: (line: string) => void;
  private readonly warn: (line: string) => void;
  private readonly onExit: () => void;
  /** runs a brokerctl command on this node (cli/commands.ts's runCommand), for a member's runOn */
  private readonly runCommand: (node: BrokerNode, req: CommandRequest) => Promise<CommandResult>;
  port = 0;
  readonly remote: RemoteQueues;
  readonly partitions: PartitionMonitor;
  readonly mirrors: Mirrors;
  private readonly env: ClusterEnvironment;

  constructor(node: BrokerNode, opts: { log: (line: string) => void; warn: (line: string) => void; onExit: () => void; runCommand: (node: BrokerNode, req: CommandRequest) => Promise<CommandResult>; partitionHandling?: PartitionHandling; env?: ClusterEnvironment }) {
    this.node = node;
    this.env = opts.env ?? {};
    this.log = opts.log;
    this.warn = opts.warn;
    this.onExit = opts.onExit;
    this.runCommand = opts.runCommand;
    node.cluster = this;
    this.remote = new RemoteQueues(() => this.node.broker, () => this.manager);
    this.partitions = new PartitionMonitor(this, opts.partitionHandling ?? 'ignore');
    this.mirrors = new Mirrors(this);
  }

  /** Members this node can reach right now (itself included). */
  reachable(): string[] {
    const m = this.membership();
    return [...m.voters, ...m.learners].filter((n) => n === this.nodeName || this.manager?.link(n)?.isOpen === true);
  }

  get nodeName(): string {
    return this.node.nodeName;
  }

  /** A node's incarnation (Erlang's creation, for pids): this process's, or a linked peer's. */
  incarnationOf(node: string): number | undefined {
    if (node === this.nodeName) return this.manager?.incarnation;
    return this.manager?.link(node)?.remoteIncarnation;
  }

  private get dataDir(): string | undefined {
    return this.node.options.dataDir;
  }

  // ---- cluster.json: who the members are, so a restarting node knows whom to reach

  private memoryClusterFile: ClusterFile | null = null;

  clusterFile(): ClusterFile | null {
    if (this.env.disk !== undefined) return this.env.disk.loadClusterFile();
    if (this.dataDir === undefined) return this.memoryClusterFile;
    const p = join(this.dataDir, 'cluster.json');
    if (!existsSync(p)) return null;
    return JSON.parse(readFileSync(p, 'utf8')) as ClusterFile;
  }

  private writeClusterFile(f: ClusterFile | null): void {
    if (this.env.disk !== undefined) return this.env.disk.saveClusterFile(f);
    if (this.dataDir === undefined) {
      this.memoryClusterFile = f;
      return;
    }
    const p = join(this.dataDir, 'cluster.json');
    if (f === null) {
      rmSync(p, { force: true });
      return;
    }
    mkdirSync(this.dataDir, { recursive: true });
    writeFileSync(`${p}.tmp`, JSON.stringify(f, null, 2));
    renameSync(`${p}.tmp`, p);
  }

  get clustered(): boolean {
    return this.clusterFile() !== null;
  }

  /** This node's type in the cluster (a standalone node is a disc node). */
  get nodeType(): NodeType {
    return this.clusterFile()?.nodes[this.nodeName] ?? 'disc';
  }

  // ---- the distribution port

  async listen(host: string, port: number, cookieFile: string): Promise<number> {
    const env = this.env;
    const cookie = env.cookie ?? (await readCookieFile(cookieFile));
    // the node name is this process's, as epmd allows one registration per name (NodeNameInUseError)
    if (env.resolve === undefined) claimNode(this.nodeName);
    this.manager = new PeerManager({
      nodeName: this.nodeName,
      cookie,
      transport: env.transport ?? new TcpTransport(),
      ...(env.clock !== undefined ? { clock: env.clock } : {}),
      ...(env.random !== undefined ? { random: env.random } : {}),
      listen: { host, port },
      resolve: env.resolve ?? ((node: string) => {
        // a node name's host part is its address; the one-host registry (our epmd) knows non-default ports
        const host = node.slice(node.indexOf('@') + 1);
        const registered = lookupNode(node);
        if (registered !== null) return { host: isIP(host) !== 0 ? host : '127.0.0.1', port: registered };
        return { host, port: DEFAULT_DIST_PORT };
      }),
      // a hung or cut-off peer is declared dead after 6 silent ticks (1.2 s of silence, noticed 1.2-1.4 s after it
      // began: the finer the tick, the less the detection varies): the mirrored-queue failover target is 2 s, and the
      // event loop of a busy node can stall for some hundreds of ms without being taken for dead
      heartbeatTickMs: PEER_HEARTBEAT_TICK_MS,
      heartbeatMissedTicks: PEER_DEAD_AFTER_MS / PEER_HEARTBEAT_TICK_MS,
      // brokerctl's link fails nothing over: as much slack as brokerctl gives the node (a starved CLI process is no
      // reason to drop a join_cluster or stop_app half-way)
      heartbeatMissedTicksFor: (remote: string) => (remote.startsWith('brokerctl-') ? Math.ceil(10_000 / PEER_HEARTBEAT_TICK_MS) : undefined),
      logger: { debug() {}, info() {}, warn: (m: string) => this.warn(m), error: (m: string) => this.warn(m) },
      handler: {
        onMessage: (link: PeerLink, msg: unknown) => this.onMessage(link, msg),
        onRequest: (link: PeerLink, req: unknown, id: number) => this.onRequest(link, req, id),
        onLinkUp: (link: PeerLink) => {
          if (link.remoteNode.startsWith('brokerctl-')) return;
          this.log(`peer link up: ${link.remoteNode}`);
          this.partitions.linkUp(link.remoteNode, link.remoteIncarnation);
          this.saveRunning();
          // publishes held for mirrored queues mastered there go on, and consumers waiting for them subscribe again
          this.remote.linkUp(link.remoteNode);
        },
        onLinkDown: (link: PeerLink) => {
          if (link.remoteNode.startsWith('brokerctl-')) return;
          this.log(`peer link down: ${link.remoteNode}`);
          const raft = this.raft;
          if (raft?.leader !== undefined && memberNode(raft.leader) === link.remoteNode) raft.peerLost(raft.leader);
          this.remote.linkDown(link.remoteNode);
          this.mirrors.linkDown(link.remoteNode);
          this.partitions.linkDown(link.remoteNode, link.remoteIncarnation);
          this.saveRunning();
        },
        onDrain: () => {
          // remote consumers waited for the link: let their queues deliver again
          for (const vh of this.node.broker?.vhosts.values() ?? []) for (const q of vh.queues.values()) if (q.consumerCount > 0) q.dispatch();
        },
      },
    });
    const addr = await this.manager.start();
    this.port = addr?.port ?? port;
    if (env.resolve === undefined) {
      registerNode(this.nodeName, this.port);
      if (this.dataDir !== undefined) registerDataDir(this.nodeName, resolve(this.dataDir));
    }
    this.partitions.start();
    if (env.clock === undefined) this.watchStalls();
    return this.port;
  }

  private stallTimer: NodeJS.Timeout | null = null;

  /**
   * Logs a stall of this process's event loop (a long synchronous disc write under I/O pressure, a starved CPU, a
   * SIGSTOP): the node sent no heartbeats meanwhile, so a stall past PEER_DEAD_AFTER_MS explains why peers dropped it.
   */
  private watchStalls(): void {
    let last = performance.now();
    this.stallTimer = setInterval(() => {
      const now = performance.now();
      const gap = now - last;
      last = now;
      if (gap - PEER_HEARTBEAT_TICK_MS >= STALL_WARN_MS) {
        this.warn(`event loop stalled for ${Math.round(gap)} ms (peers take ${PEER_DEAD_AFTER_MS} ms of silence for a dead node)`);
      }
    }, PEER_HEARTBEAT_TICK_MS);
    this.stallTimer.unref();
  }

  async close(): Promise<void> {
    if (this.stallTimer !== null) clearInterval(this.stallTimer);
    this.stallTimer = null;
    this.partitions.stop();
    this.stopRaft();
    if (this.env.resolve === undefined) unregisterNode(this.nodeName);
    await this.manager?.stop();
    this.manager = null;
  }

  private onMessage(link: PeerLink, msg: unknown): void {
    const m = msg as { type?: string; m?: RaftMessage; f?: string; t?: string };
    if (m.type === 'raft' && m.m !== undefined) {
      // (a message for an earlier member of this node, a ram node's previous start, is for nobody now)
      const raft = this.raft;
      if (raft !== null && (m.t === undefined || m.t === raft.id)) raft.receive(m.f ?? link.remoteNode, m.m);
    }
    // a peer's app stopped (stop_app): its plain queues are gone for this node as if its link had gone down
    // (their consumers here are cancelled, as after kill -9); its mirrored queues are the mirrors' business (a
    // hand-over, or a promotion once the link goes), and its app starting again changes nothing here
    else if (m.type === 'appdown') this.remote.linkDown(link.remoteNode, true);
    else if (m.type === 'appup') return;
    else if (m.type !== undefined && !this.mirrors.onMessage(link, m as { type: string })) this.remote.onMessage(link, m as { type: string });
  }

  private onRequest(link: PeerLink, req: unknown, id: number): unknown {
    // a publish forwarded to this node, the queue's master: answered when confirmed, with no promise per message
    if ((req as { type?: string }).type === 'pub') return this.remote.onPubRequest(link, req as WireMessage & { v: string; q: string }, id);
    return this.onControlRequest(link, req);
  }

  private async onControlRequest(link: PeerLink, req: unknown): Promise<unknown> {
    const r = req as { type?: string };
    if (r.type === undefined) return this.control(req as CommandRequest);
    switch (r.type) {
      case 'join':
        return this.acceptJoin(req as { node: string; role: 'voter' | 'learner' });
      case 'member':
        return this.changeMember(req as { node: string; role: 'voter' | 'learner' | 'absent' });
      case 'ramjoin':
        return this.acceptRam(req as { node: string; id: string });
      case 'running':
        return { running: this.node.running };
      case 'members':
        // a starting node asks whether it is still a member (it was perhaps forgotten while it was down)
        return { leader: this.raft?.isLeader() === true, members: this.raft !== null ? this.membership() : null };
      case 'mgmt.list': {
        // another member's management API lists the cluster's connections, channels or consumers: this node's
        const l = req as { what: ListingKind; viewer: Viewer; vhost?: string };
        return this.node.broker?.management?.list(l.what, l.viewer, l.vhost) ?? [];
      }
      case 'mgmt.close': {
        const c = req as { name: string; reason: string; viewer: Viewer };
        const agent = this.node.broker?.management;
        return { closed: agent ? await agent.close(c.name, c.reason, c.viewer) : false };
      }
      case 'mq.sync': {
        const sq = req as { v: string; q: string; cancel?: boolean };
        const q = this.node.broker?.vhosts.get(sq.v)?.queues.get(sq.q);
        if (!q || q.node !== this.nodeName) throw new Error('not the master of that queue');
        return { text: this.mirrors.syncQueue(q, sq.cancel === true) };
      }
      default: {
        const out = this.remote.onRequest(link, r as { type: string });
        if (out === undefined) throw new Error(`unknown request ${r.type} from ${link.remoteNode}`);
        return out;
      }
    }
  }

  private async control(req: CommandRequest): Promise<ControlReply> {
    try {
      const result = await this.runCommand(this.node, req);
      if (result.exit) setTimeout(this.onExit, 50);
      return { ok: true, result };
    } catch (err) {
      if (err instanceof CommandError) return { ok: false, error: err.message, exitCode: err.exitCode };
      if (err instanceof NoLeaderError || err instanceof NoDiscNodeError) return { ok: false, error: err.message, exitCode: 69 };
      return { ok: false, error: (err as Error).message, exitCode: 70 };
    }
  }

  /** Runs a brokerctl command on another member, as brokerctl --node would there. */
  runOn(node: string, req: CommandRequest): Promise<ControlReply> {
    return this.request(node, req, 10_000) as Promise<ControlReply>;
  }

  private request(node: string, req: unknown, timeoutMs = 15_000): Promise<unknown> {
    const m = this.manager!;
    m.connect(node);
    return m.waitForLink(node, Math.min(timeoutMs, 10_000)).then((link) => link.request(req, { timeoutMs }));
  }

  // ---- Raft

  private raftStorage(): RaftStorage {
    if (this.env.disk !== undefined) return this.env.disk.raftStorage(this.nodeType);
    if (this.nodeType === 'disc' && this.dataDir !== undefined) return new FileStorage(join(this.dataDir, 'raft'));
    return new MemoryStorage();
  }

  /**
   * force_boot (RabbitMQ): start on this disc node's own copy of the metadata even though the other disc nodes are
   * not there. The log gets a membership entry, at a new term, that leaves this node the only voter (the others
   * become learners), so it can elect itself and commit. Whatever the lost nodes committed after this node stopped
   * is lost with them: that is the override.
   */
  forceBootMarker(): string | null {
    return this.dataDir === undefined ? null : join(this.dataDir, 'force_boot');
  }

  /**
   * Writes a membership entry, computed from the latest one in this node's log, at a new term: the offline overrides
   * (force_boot, forget_cluster_node --offline) that skip the majority.
   */
  private rewriteMembership(storage: RaftStorage, change: (config: Membership) => Membership): void {
    const st = storage.load();
    const last = (st.snapshot?.index ?? 0) + st.entries.length;
    let config: Membership = st.snapshot?.config ?? { voters: [], learners: [] };
    for (const e of st.entries) if (e.type === 'config') config = e.config;
    const next = change(config);
    const term = st.term + 1;
    storage.saveState(term, null);
    storage.append([{ index: last + 1, term, type: 'config', config: next }]);
  }

  private forceBoot(storage: RaftStorage): void {
    this.rewriteMembership(storage, (config) => {
      const nodes = nodesOf(config);
      // the other disc nodes stay disc nodes: voters again once they have rejoined and caught up
      const disc = nodes.voters.filter((n) => n !== this.nodeName);
      const learners = [...new Set([...disc, ...nodes.learners])].filter((n) => n !== this.nodeName).sort();
      return { voters: [this.nodeName], learners, ...(disc.length > 0 ? { promoting: disc } : {}) };
    });
    this.warn(`force_boot: ${this.nodeName} starts as the only voter of its cluster (the other disc nodes vote again once they have rejoined and caught up)`);
  }

  /**
   * forget_cluster_node --offline (RabbitMQ): on a disc node whose app is stopped, remove a node from this node's copy
   * of the membership without asking the others; for when the nodes that could commit the removal are gone. Like
   * force_boot it writes a membership entry at a new term into the local log: the override of the majority rule.
   */
  private forgetOffline(target: string): void {
    if (this.node.running) throw new CommandError(`node ${this.nodeName} is running: forget_cluster_node --offline needs the app stopped (brokerctl stop_app)`, 69);
    if (!this.clustered || this.nodeType !== 'disc' || this.dataDir === undefined) {
      throw new CommandError('forget_cluster_node --offline runs on a stopped disc node of a cluster', 69);
    }
    const storage = this.raftStorage();
    try {
      this.rewriteMembership(storage, (config) => {
        const ids = [...config.voters, ...config.learners];
        if (!ids.some((x) => memberNode(x) === target)) throw new CommandError(`Node ${target} is not a member of the cluster`, 65);
        const voters = config.voters.filter((n) => memberNode(n) !== target);
        if (!voters.some((v) => !isRamMember(v))) throw new CommandError('at least one disc node must remain', 65);
        const promoting = (config.promoting ?? []).filter((n) => memberNode(n) !== target);
        return { voters: voters.sort(), learners: config.learners.filter((n) => memberNode(n) !== target).sort(), ...(promoting.length > 0 ? { promoting } : {}) };
      });
    } finally {
      storage.close();
    }
    const f = this.clusterFile();
    if (f) {
      delete f.nodes[target];
      this.writeClusterFile(f);
    }
    this.warn(`forget_cluster_node --offline: ${target} removed from ${this.nodeName}'s copy of the membership`);
  }

  /** Starts this node's Raft member for a broker app that is starting; resolves once metadata is current. */
  async attach(broker: Broker): Promise<void> {
    const file = this.clusterFile();
    if (file === null) return;
    const marker = this.forceBootMarker();
    let storage = this.raftStorage();
    if (marker !== null && existsSync(marker) && this.nodeType === 'disc') {
      this.forceBoot(storage);
      storage.close();
      storage = this.raftStorage();
      rmSync(marker, { force: true });
    }
    for (const n of Object.keys(file.nodes)) if (n !== this.nodeName) this.manager?.connect(n);
    // a ram node's every start is a new member (its log starts empty): never an earlier one's vote or acks
    const ram = this.nodeType === 'ram';
    const random = this.env.random ?? cryptoRandom;
    const id = ram ? `${this.nodeName}${RAM_MEMBER_SEP}${random.uint32().toString(36)}${random.uint32().toString(36)}` : this.nodeName;
    this.goneMembers.clear();
    // (written while the app ran: the links up when it last stopped)
    this.loadRunning();
    const raft = new RaftNode({
      id,
      transport: { send: (to, msg) => void this.sendRaft(to, msg) },
      storage,
      clock: this.env.clock ?? systemClock,
      random: this.env.random ?? cryptoRandom,
      logger: { debug() {}, info: (m: string) => this.log(m), warn: (m: string) => this.warn(m), error: (m: string) => this.warn(m) },
      apply: (command) => {
        try {
          broker.applyMeta(command as MetaCommand);
        } catch (err) {
          // every node skips the same command the same way
          this.warn(`metadata command ${(command as MetaCommand).op} skipped: ${(err as Error).message}`);
        }
      },
      snapshot: () => exportState(broker),
      restore: (data) => reconcile(broker, data as MetadataState),
      // a disc node joining is a learner until it has caught up ('promoting'): it is a disc node all the same
      onStatusChange: () => this.onRaftStatus(),
    });
    this.raft = raft;
    broker.forwarder = (q, msg, waiter, token) => this.remote.forward(q, msg, waiter, token);
    broker.onQueueMoved = (q, from, why) => {
      if (from === broker.localNode) {
        // this node's queue has a new master elsewhere (it was cut off): its copy is stale
        for (const c of [...q.consumers]) {
          q.removeConsumer(c);
          c.channel.consumerCancelledByServer(c);
        }
        const store = q.store;
        q.store = null;
        // unless the data on disc is from a later epoch: this node is replaying the log after a restart, and it was
        // promoted again after this promotion away. The messages its replay of the declare took off that disc are
        // kept for that later promotion (the store hands its messages out once per open)
        const later = store !== null && masterEpochOf(store.tag) >= q.masterEpoch;
        if (later) this.mirrors.park(store, q.readyMessages());
        // the purge is this node letting go of its stale copy: not removals for the mirrors (one of which is the new
        // master, perhaps not yet aware of its promotion) to apply
        q.mirror = null;
        q.purge();
        if (store !== null && !later) store.destroy();
      }
      this.mirrors.promoted(broker, q, from, why);
      this.remote.queueMoved(q);
    };
    broker.onQueueMirrorsChanged = (q) => this.mirrors.mirrorsChanged(q);
    broker.queuePids = (q) => this.mirrors.pids(q);
    broker.remoteQueues = this.remote;
    broker.replicator = {
      propose: (cmd) =>
        raft.propose(cmd).then(
          () => undefined,
          (err: unknown) => {
            // no leader, or a leader that no longer answers: either way no disc node majority recorded it
            throw err instanceof RaftError ? new NoDiscNodeError(err.message) : err;
          },
        ),
    };
    raft.start();
    this.maybeBootAlone();
    // wait until this node has applied everything committed before it started (RabbitMQ: a node waits for its peers)
    const until = Date.now() + CLUSTER_BOOT_WAIT_MS;
    let joined = !ram;
    for (;;) {
      try {
        if (!joined) {
          await this.joinAsRam(raft, file);
          joined = true;
        }
        await raft.propose({ op: 'barrier' });
        this.mirrors.start();
        const f = this.clusterFile();
        if (f !== null && f.name !== broker.clusterName) this.writeClusterFile({ ...f, name: broker.clusterName });
        return;
      } catch (err) {
        if (this.raft !== raft) throw err;
        // force_reset while waiting: the node no longer belongs to a cluster (NodeApp starts it standalone)
        if (this.clusterFile() === null) throw Object.assign(new Error(`${this.nodeName} was reset while waiting for its cluster`), { code: 'CLUSTER_RESET' });
        const against = await this.disagreeingLeader(file);
        if (against !== null) {
          throw Object.assign(
            new Error(
              `inconsistent_cluster: Node ${this.nodeName} thinks it's clustered with node ${against}, but ${against} disagrees ` +
                `(${this.nodeName} was removed from the cluster with forget_cluster_node). Reset it (brokerctl -n ${this.nodeName} reset), ` +
                `then join_cluster again or start_app on its own`,
            ),
            { code: 'INCONSISTENT_CLUSTER' },
          );
        }
        if (Date.now() > until) {
          const f = this.clusterFile() ?? file;
          const others = Object.keys(f.nodes).filter((n) => n !== this.nodeName);
          // a ram node waits for a disc node; a disc node for the other voters (disc nodes, and ram nodes still running)
          const disc = others.filter((n) => f.nodes[n] === 'disc');
          const what = ram || disc.length === others.length ? `disc nodes (${disc.join(', ')})` : `nodes (${others.join(', ')})`;
          throw new Error(`timed out waiting for the cluster's ${what}: ${(err as Error).message}`);
        }
        this.maybeBootAlone();
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  }

  /**
   * The cluster's Raft leader, when this node can reach it and it does not count this node as a member (it was
   * forgotten while it was down); null otherwise. Only the leader is believed: a follower may not have applied a
   * join yet.
   */
  private async disagreeingLeader(file: ClusterFile): Promise<string | null> {
    const peers = Object.keys(file.nodes).filter((n) => n !== this.nodeName && this.manager?.link(n)?.isOpen === true);
    const replies = await Promise.all(
      peers.map((n) =>
        this.request(n, { type: 'members' }, 2000).then(
          (r) => r as { leader: boolean; members: Membership | null },
          () => null,
        ),
      ),
    );
    for (let i = 0; i < peers.length; i++) {
      const r = replies[i];
      // (members are named by node, or for a ram node's start by node#incarnation: memberNode maps both)
      if (r?.leader === true && r.members !== null && ![...r.members.voters, ...r.members.learners].some((x) => memberNode(x) === this.nodeName)) return peers[i]!;
    }
    return null;
  }

  /** A ram node's new member asks a running member to make it a voter (and to drop its earlier members). */
  private async joinAsRam(raft: RaftNode, file: ClusterFile): Promise<void> {
    const others = Object.keys((this.clusterFile() ?? file).nodes).filter((n) => n !== this.nodeName);
    let last: unknown = new NoLeaderError();
    for (const n of others) {
      if (this.manager?.link(n)?.isOpen !== true) {
        this.manager?.connect(n);
        continue;
      }
      try {
        await this.request(n, { type: 'ramjoin', node: this.nodeName, id: raft.id }, 5_000);
        return;
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  /** Raft members of other nodes known to be gone for good: a ram node's earlier starts (it runs a newer one). */
  private readonly goneMembers = new Set<string>();
  /** The other members whose links were up when this node last stopped (RabbitMQ's nodes_running_at_shutdown). */
  private runningAtStop: string[] | null = null;

  /** On a member: a ram node's new member asks to join as a voter; its earlier members are gone for good. */
  private async acceptRam(req: { node: string; id: string }): Promise<{ ok: true }> {
    const raft = this.raft;
    if (raft === null) throw new Error(`node ${this.nodeName} is not running`);
    // removed with forget_cluster_node while it was down: it must reset (its boot fails once the leader disagrees)
    if (this.node.broker?.forgottenNodes.has(req.node) === true) throw new Error(`${req.node} was removed from the cluster with forget_cluster_node: reset it`);
    const m = raft.membership();
    const stale = [...m.voters, ...m.learners].filter((x) => x !== req.id && memberNode(x) === req.node && (isRamMember(x) || !m.voters.includes(x)));
    for (const x of stale) if (isRamMember(x)) this.goneMembers.add(x);
    this.maybeBootAlone();
    for (const x of stale) await raft.changeMembership(x, 'absent');
    if (!raft.membership().voters.includes(req.id)) await raft.changeMembership(req.id, 'voter');
    return { ok: true };
  }

  /**
   * On a disc node that knows no leader: when no other voter of its membership can ever answer again (ram members of
   * processes that restarted since, and disc nodes that were down before this node stopped: RabbitMQ's last down,
   * first up), this node takes the membership alone. Any other voter that may still run keeps it waiting.
   */
  private maybeBootAlone(): void {
    const raft = this.raft;
    if (raft === null || this.nodeType !== 'disc' || raft.leader !== undefined) return;
    const m = raft.membership();
    if (!m.voters.includes(raft.id) || m.voters.length < 2) return;
    const downBefore = (id: string): boolean => !isRamMember(id) && this.runningAtStop !== null && !this.runningAtStop.includes(id);
    const alive = m.voters.filter((v) => v === raft.id || (!this.goneMembers.has(v) && !downBefore(v)));
    if (alive.length !== 1) return;
    const others = m.voters.filter((v) => v !== raft.id);
    const disc = others.filter((v) => !isRamMember(v));
    const listed = [...m.learners.filter((l) => !this.goneMembers.has(l)), ...others.map(memberNode)];
    const next: Membership = { voters: [raft.id], learners: [...new Set(listed)].sort(), ...(disc.length > 0 ? { promoting: disc } : {}) };
    if (raft.overrideMembership(next)) {
      const why = [...others.filter((v) => this.goneMembers.has(v)).map((v) => `${memberNode(v)} restarted`), ...disc.map((v) => `${v} was down before this node stopped`)];
      this.warn(`${this.nodeName} boots on its own copy of the metadata: no other voter can answer (${why.join('; ')})`);
    }
  }

  /** Records which members' links are up, for the last-down-first-up rule at this disc node's next start. */
  private saveRunning(): void {
    if (this.dataDir === undefined || this.env.disk !== undefined || !this.clustered || this.raft === null) return;
    const up = this.reachable().filter((n) => n !== this.nodeName).sort();
    try {
      writeFileSync(join(this.dataDir, 'nodes_running_at_shutdown'), JSON.stringify(up));
    } catch {
      /* best effort: without it the node waits for every disc node */
    }
  }

  private loadRunning(): void {
    if (this.dataDir === undefined) return;
    try {
      this.runningAtStop = JSON.parse(readFileSync(join(this.dataDir, 'nodes_running_at_shutdown'), 'utf8')) as string[];
    } catch {
      this.runningAtStop = null;
    }
  }

  /** Before the app stops: hand the queues this node masters to their synchronised mirrors (ha-promote-on-shutdown). */
  async beforeStop(): Promise<void> {
    if (this.raft === null) return;
    const n = await this.mirrors.handOver(3000);
    if (n > 0) this.log(`handed ${n} mirrored queue${n === 1 ? '' : 's'} over to mirrors before stopping`);
    // a ram node's member ends with its app: it hands its vote back, so the others' majority does not count on it and
    // a disc node that stops after it may come back alone (last down, first up)
    const raft = this.raft;
    if (raft !== null && isRamMember(raft.id)) {
      try {
        await raft.changeMembership(this.nodeName, 'learner', { timeoutMs: 1500 });
        await raft.changeMembership(raft.id, 'absent', { timeoutMs: 1500 });
      } catch {
        /* no majority now: the member stays until this node's next start replaces it */
      }
    }
  }

  /** Tells every linked peer that this node's app stopped or started (see onMessage). */
  appState(up: boolean): void {
    const m = this.manager;
    if (m === null) return;
    for (const n of Object.keys(this.clusterFile()?.nodes ?? {})) {
      if (n === this.nodeName || m.link(n)?.isOpen !== true) continue;
      try {
        m.send(n, { type: up ? 'appup' : 'appdown' });
      } catch {
        /* link just went away: the peer sees that instead */
      }
    }
  }

  stopRaft(): void {
    this.mirrors.stop();
    this.raft?.stop();
    this.raft = null;
  }

  private sendRaft(to: string, msg: RaftMessage): void {
    const m = this.manager;
    if (!m) return;
    const node = memberNode(to);
    if (m.link(node) === undefined) {
      m.connect(node);
      return;
    }
    try {
      m.send(node, { type: 'raft', m: msg, f: this.raft?.id ?? this.nodeName, t: to });
    } catch {
      /* link just went away: Raft retries */
    }
  }

  /** Keeps cluster.json in step with the membership the log says. */
  private onRaftStatus(): void {
    const raft = this.raft;
    if (raft === null) return;
    const m = nodesOf(raft.membership());
    if (m.voters.length + m.learners.length === 0) return;
    const nodes: Record<string, NodeType> = {};
    for (const n of m.voters) nodes[n] = 'disc';
    for (const n of m.learners) nodes[n] = 'ram';
    const cur = this.clusterFile();
    if (cur && JSON.stringify(cur.nodes) === JSON.stringify(nodes)) return;
    if (!(this.nodeName in nodes)) return; // removed: reset handles the file
    this.writeClusterFile({ nodes, ...(cur?.name !== undefined ? { name: cur.name } : {}) });
    // a member added whose link was already up (a node that was reset and joins again) is running now: without this,
    // the record from the last link change left it out, and this node would take it for down before it stopped
    this.saveRunning();
    for (const n of Object.keys(nodes)) if (n !== this.nodeName) this.manager?.connect(n);
  }

  membership(): Membership {
    if (this.raft) return nodesOf(this.raft.membership());
    const f = this.clusterFile();
    if (!f) return { voters: [this.nodeName], learners: [] };
    return {
      voters: Object.entries(f.nodes).filter(([, t]) => t === 'disc').map(([n]) => n),
      learners: Object.entries(f.nodes).filter(([, t]) => t === 'ram').map(([n]) => n),
    };
  }

  /** The cluster as the management API shows it: members with their type, and where each queue lives. */
  view(broker: Broker): ClusterView {
    return {
      nodes: () => {
        const m = this.membership();
        const up = (n: string): boolean => (n === this.nodeName ? broker.running : this.manager?.link(n)?.isOpen === true);
        const partitions = (name: string): string[] => (name === this.nodeName ? this.partitions.list() : []);
        return [
          ...m.voters.map((name) => ({ name, type: 'disc' as const, running: up(name), partitions: partitions(name) })),
          ...m.learners.map((name) => ({ name, type: 'ram' as const, running: up(name), partitions: partitions(name) })),
        ];
      },
      queueLocation: (vhost, queue) => {
        const q = broker.vhosts.get(vhost)?.queues.get(queue);
        if (!q) return { node: this.nodeName, mirrors: [], synchronisedMirrors: [] };
        const s = this.mirrors.state(q);
        return { node: q.node, mirrors: s.mirrors, synchronisedMirrors: s.synced };
      },
      queueCounts: (queues) => this.remote.countsOf(queues, this.nodeName),
      syncQueue: (q, cancel) => this.syncQueue(q.vhost, q.name, cancel),
      gather: async (what, viewer, vhost) => {
        const others = this.reachable().filter((n) => n !== this.nodeName).sort();
        const got = await Promise.all(
          others.map((n) => this.request(n, { type: 'mgmt.list', what, viewer, ...(vhost !== undefined ? { vhost } : {}) }, 5000).catch(() => null)),
        );
        return got.flatMap((rows) => (Array.isArray(rows) ? (rows as Record<string, unknown>[]) : []));
      },
      closeConnection: async (node, name, reason, viewer) => {
        const r = (await this.request(node, { type: 'mgmt.close', name, reason, viewer }, 10_000)) as { closed?: boolean };
        return r.closed === true;
      },
    };
  }

  /** Members whose broker app is running, as far as this node can tell right now. */
  async runningNodes(): Promise<string[]> {
    const m = this.membership();
    const all = [...m.voters, ...m.learners];
    const out: string[] = [];
    await Promise.all(
      all.map(async (n) => {
        if (n === this.nodeName) {
          if (this.node.running) out.push(n);
          return;
        }
        const link = this.manager?.link(n);
        if (!link) return;
        try {
          const r = (await link.request({ type: 'running' }, { timeoutMs: 2000 })) as { running: boolean };
          if (r.running) out.push(n);
        } catch {
          /* unreachable counts as not running */
        }
      }),
    );
    return all.filter((n) => out.includes(n));
  }

  // ---- membership operations

  /** On the node being joined: make the joiner a member (bootstrapping a cluster of this node if needed). */
  private async acceptJoin(req: { node: string; role: 'voter' | 'learner' }): Promise<{ members: ClusterFile }> {
    const broker = this.node.broker;
    if (!this.clustered) {
      if (!broker || !broker.running) throw new Error(`node ${this.nodeName} is not running: start it before others join it`);
      // found the cluster: this node is its first disc node, its current metadata the first command
      const state = exportState(broker);
      this.writeClusterFile({ nodes: { [this.nodeName]: 'disc' } });
      const storage = this.raftStorage();
      RaftNode.bootstrap(storage, { voters: [this.nodeName], learners: [] });
      storage.close();
      // restart the app on the replicated log (clients see a brief reconnect, as when RabbitMQ forms a cluster)
      await this.node.stopApp();
      await this.node.startApp();
      await this.node.broker!.replicator!.propose({ op: 'load', state });
      this.log(`node ${this.nodeName} founded a cluster`);
    }
    if (!this.raft) throw new Error(`node ${this.nodeName} is not running`);
    // a node forgotten earlier joins again (after its reset): its starts are taken back from now on
    if (this.node.broker?.forgottenNodes.has(req.node) === true) await this.node.broker.change({ op: 'node.rejoin', node: req.node });
    await this.raft.changeMembership(req.node, req.role);
    this.log(`node ${req.node} joined the cluster as a ${req.role === 'voter' ? 'disc' : 'ram'} node`);
    return { members: this.clusterFile()! };
  }

  private async changeMember(req: { node: string; role: 'voter' | 'learner' | 'absent' }): Promise<{ ok: true }> {
    if (!this.raft) throw new Error(`node ${this.nodeName} is not running`);
    try {
      await this.setNodeRole(this.raft, req.node, req.role);
    } catch (err) {
      if (err instanceof RaftError && err.code === 'REFUSED') throw new Error(`${err.message}: at least one disc node must remain`);
      throw err;
    }
    return { ok: true };
  }

  /**
   * A node's place in the membership: 'voter' a disc node, 'learner' a ram node (listed by its plain-name learner
   * until its app starts a member of its own), 'absent' gone; its ram members, the past ones included, go.
   */
  private async setNodeRole(raft: RaftNode, node: string, role: 'voter' | 'learner' | 'absent'): Promise<void> {
    if (role !== 'absent') await raft.changeMembership(node, role);
    const m = raft.membership();
    for (const x of [...m.voters, ...m.learners]) if (memberNode(x) === node && (isRamMember(x) || role === 'absent')) await raft.changeMembership(x, 'absent');
  }

  /** sync_queue / cancel_sync_queue from any node: done by the queue's master. */
  async syncQueue(vhost: string, name: string, cancel: boolean): Promise<string> {
    const q = this.node.broker?.vhosts.get(vhost)?.queues.get(name);
    if (!q) throw new CommandError(`Error:\nQueue ${name} in vhost ${vhost} not found`, 65);
    if (q.node === this.nodeName) return this.mirrors.syncQueue(q, cancel);
    const r = (await this.request(q.node, { type: 'mq.sync', v: vhost, q: name, cancel }, 15_000)) as { text: string };
    return r.text;
  }

  /** join_cluster, run on the joining node (app stopped). */
  async join(target: string, type: NodeType): Promise<void> {
    if (this.node.running) throw new CommandError(`node ${this.nodeName} is running: stop the app with brokerctl stop_app first`, 69);
    if (target === this.nodeName) throw new CommandError('a node cannot join itself', 64);
    const reply = (await this.request(target, { type: 'join', node: this.nodeName, role: type === 'disc' ? 'voter' : 'learner' }, 30_000)) as { members: ClusterFile };
    // like RabbitMQ, joining replaces this node's own metadata and messages with the cluster's
    this.node.reset();
    this.wipeRaft();
    const nodes = { ...reply.members.nodes, [this.nodeName]: type };
    this.writeClusterFile({ nodes });
  }

  private wipeRaft(): void {
    this.env.disk?.wipeRaft();
    if (this.dataDir !== undefined) rmSync(join(this.dataDir, 'raft'), { recursive: true, force: true });
  }

  /** reset of a clustered node: leave the cluster (the others forget it), then forget everything. */
  async leave(): Promise<void> {
    const f = this.clusterFile();
    if (f === null) return;
    const others = Object.keys(f.nodes).filter((n) => n !== this.nodeName);
    let done = others.length === 0;
    for (const n of others) {
      try {
        await this.request(n, { type: 'member', node: this.nodeName, role: 'absent' }, 10_000);
        done = true;
        break;
      } catch (err) {
        this.warn(`could not leave the cluster through ${n}: ${(err as Error).message}`);
      }
    }
    if (!done) throw new CommandError(`no running cluster node could remove ${this.nodeName}; use force_reset`, 69);
    this.writeClusterFile(null);
    this.wipeRaft();
  }

  /** force_reset: forget the cluster without telling anyone. */
  forceLeave(): void {
    this.writeClusterFile(null);
    this.wipeRaft();
  }

  async changeType(type: NodeType): Promise<void> {
    if (this.node.running) throw new CommandError(`node ${this.nodeName} is running: stop the app with brokerctl stop_app first`, 69);
    const f = this.clusterFile();
    if (f === null) throw new CommandError(`node ${this.nodeName} is not clustered; a standalone node is a disc node`, 69);
    const others = Object.keys(f.nodes).filter((n) => n !== this.nodeName);
    let last: unknown;
    for (const n of others) {
      try {
        await this.request(n, { type: 'member', node: this.nodeName, role: type === 'disc' ? 'voter' : 'learner' }, 15_000);
        f.nodes[this.nodeName] = type;
        this.writeClusterFile(f);
        if (type === 'ram') this.wipeRaft();
        return;
      } catch (err) {
        last = err;
      }
    }
    throw new CommandError(`could not change the node type: ${(last as Error)?.message ?? 'no other node'}`, 69);
  }

  async forget(target: string, offline: boolean): Promise<void> {
    if (target === this.nodeName) throw new CommandError('a node cannot forget itself: use reset on it', 64);
    if (offline) return this.forgetOffline(target);
    // (rabbitmqctl: {:not_a_cluster_node, 'The node selected is not in the cluster.'}, exit 69)
    if (!this.raft && this.node.running) throw new CommandError(`The node selected is not in the cluster: ${this.nodeName} is not clustered, ${target} is not a member of its cluster`, 69);
    if (!this.raft) throw new CommandError(`node ${this.nodeName} is not running`, 69);
    const m = nodesOf(this.raft.membership());
    if (!m.voters.includes(target) && !m.learners.includes(target)) throw new CommandError(`Node ${target} is not a member of the cluster`, 65);
    if (target === this.nodeName) throw new CommandError('a node cannot forget itself: use reset on it', 64);
    try {
      // recorded first, so a ram start of the target racing with its removal cannot be taken back
      await this.node.broker!.change({ op: 'node.forget', node: target });
      await this.setNodeRole(this.raft, target, 'absent');
      // as RabbitMQ's forget_cluster_node: the node's queues go with it (their messages were on its disc); a mirrored
      // one is left to the promotion of a mirror
      const b = this.node.broker;
      for (const vh of b?.vhosts.values() ?? []) {
        for (const q of [...vh.queues.values()]) {
          if (q.node === target && !q.mirroredByPolicy) await b!.change({ op: 'queue.delete', vhost: vh.name, name: q.name });
        }
      }
    } catch (err) {
      // still a member (the removal was refused or not committed): its starts are taken back as before
      const r = this.raft;
      if (r !== null && nodesOf(r.membership()).voters.concat(nodesOf(r.membership()).learners).includes(target)) {
        await this.node.broker?.change({ op: 'node.rejoin', node: target }).catch(() => undefined);
      }
      throw new CommandError((err as Error).message, 69);
    }
  }
}

/**
 * The cluster's nodes from a Raft membership: disc nodes are the plain-name voters (and those being promoted: a disc
 * node still catching up); ram nodes are their in-memory members, voters or not, and the plain-name learners that
 * list a ram node whose app is stopped.
 */
export function nodesOf(m: Membership): Membership {
  const promoting = m.promoting ?? [];
  const disc = [...new Set([...m.voters, ...promoting].filter((id) => !isRamMember(id)))];
  const ram = [...new Set([...m.voters, ...m.learners].filter((id) => isRamMember(id) || !disc.includes(id)).map(memberNode))].filter((n) => !disc.includes(n));
  return { voters: disc.sort(), learners: ram.sort() };
}
