// The harness: N real broker nodes (BrokerNode + ClusterService + Raft + Mirrors + RemoteQueues) in one process,
// linked by a MemoryNetwork, on one simulated clock, each with a simulated disc that survives its crashes.
// Faults are applied by the schedule (schedule.ts); this file knows how to start, crash, restart and observe nodes.
import { MemoryNetwork, SeededRandom } from '@warren/cluster-peer';
import { BrokerNode } from '../../packages/broker/src/server/node.ts';
import { ClusterService, type NodeType } from '../../packages/broker/src/cluster/cluster-service.ts';
import { runCommand } from '../../packages/broker/src/cli/commands.ts';
import { MemoryDefinitionsStore } from '../../packages/broker/src/store/definitions-store.ts';
import { exportState } from '../../packages/broker/src/cluster/state.ts';
import type { PartitionHandling } from '../../packages/broker/src/cluster/partitions.ts';
import { SimClock } from './sim-clock.ts';
import { SimDisk } from './sim-disk.ts';
import { NO_FAULTS, type DiskFaults } from './sim-fs.ts';
import { SimConsumer, SimPublisher, VHOST, type Ledger } from './sim-client.ts';

export const DIST_PORT = 25672;
const COOKIE = 'WARRENSIMULATIONCOOKIE';

export interface NodeSpec {
  host: string;
  type: NodeType;
}

export class SimNode {
  readonly name: string;
  readonly host: string;
  readonly type: NodeType;
  readonly disk: SimDisk;
  node: BrokerNode | null = null;
  cluster: ClusterService | null = null;
  incarnation = 0;
  /** the process is up (it may still be waiting for the cluster before its app runs) */
  up = false;
  starting = false;
  /** stopped with SIGSTOP: its timers and its links wait (see ClusterSim.hang) */
  hung = false;
  /** the current process, as the owner of the timers its code sets (a new object for each incarnation) */
  owner: object = {};

  constructor(spec: NodeSpec, diskRandom: SeededRandom, note: (line: string) => void) {
    this.host = spec.host;
    this.name = `rabbit@${spec.host}`;
    this.type = spec.type;
    this.disk = new SimDisk(diskRandom, (line) => note(`${spec.host}: ${line}`));
  }

  get running(): boolean {
    return this.up && this.node?.running === true;
  }
}

/** FNV-1a over the trace: two runs of one seed must give the same value. */
function fnv(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}

export class ClusterSim implements Ledger {
  readonly seed: number;
  readonly clock = new SimClock();
  readonly net: MemoryNetwork;
  readonly nodes: SimNode[];
  readonly partitionHandling: PartitionHandling;
  // the ledger
  readonly confirmed = new Map<string, { node: string; at: number; master: string; context: string }>();
  readonly nacked = new Set<string>();
  readonly returned = new Set<string>();
  readonly acked = new Map<string, number>();
  published = 0;
  nextConnectionId = 1_000_000;
  readonly violations: string[] = [];
  publishers: SimPublisher[] = [];
  consumers: SimConsumer[] = [];
  private clientCount = 0;
  private readonly clientRandom: SeededRandom;
  /** every harness event and broker log line; kept whole only when asked (replay), hashed always */
  readonly trace: string[] = [];
  keepTrace: boolean;
  echo = false;
  private hash = 2166136261;
  /** the last lines, for a failure report without keeping everything */
  private readonly tail: string[] = [];
  /** sim time during which two running nodes each took themselves for the queue's master */
  dualMasterMs = 0;
  private dualSince: number | null = null;
  /** every promotion as the promoted node logged it, for the report of a loss */
  readonly promotions: string[] = [];
  /** queue name (one mirrored queue per schedule) */
  readonly queue = 'ha.q';

  constructor(seed: number, specs: NodeSpec[], opts: { partitionHandling?: PartitionHandling; keepTrace?: boolean; netTrace?: boolean } = {}) {
    this.seed = seed;
    this.keepTrace = opts.keepTrace ?? false;
    this.partitionHandling = opts.partitionHandling ?? 'ignore';
    this.net = new MemoryNetwork({
      clock: this.clock,
      seed: seed ^ 0x5eed,
      latencyMs: 1,
      jitterMs: 1,
      trace: opts.netTrace ?? false,
      // what the network hands to a host runs as that host's current process (its timers freeze with it)
      onEnter: (host) => {
        const n = this.nodes.find((x) => x.host === host);
        this.clock.owner = n === undefined || !n.up ? null : n.owner;
      },
    });
    // (each disc draws from its own stream: the faults and torn writes it decides change nothing else's draws)
    this.nodes = specs.map((s, i) => new SimNode(s, new SeededRandom((seed * 977 + i * 131 + 0xd15c) >>> 0), (line) => this.note(line)));
    this.clientRandom = new SeededRandom(seed ^ 0xc1e47);
  }

  // ---- trace

  now(): number {
    return this.clock.now();
  }

  note(line: string): void {
    const l = `${this.clock.now().toFixed(3)} ${line}`;
    this.hash = fnv(this.hash, l);
    if (this.keepTrace) this.trace.push(l);
    if (this.echo) process.stdout.write(`${l}\n`);
    this.tail.push(l);
    if (this.tail.length > 400) this.tail.splice(0, 200);
  }

  violation(text: string): void {
    this.note(`VIOLATION ${text}`);
    this.violations.push(text);
  }

  /** A hash of everything that happened: harness events, broker logs, timers fired, and the network's trace. */
  traceHash(): string {
    let h = fnv(this.hash, `fired ${this.clock.fired}`);
    for (const l of this.net.trace) h = fnv(h, l);
    return h.toString(16).padStart(8, '0');
  }

  lastLines(n: number): string[] {
    return (this.keepTrace ? this.trace : this.tail).slice(-n);
  }

  /** Ground truth from the network: does the master reach a majority of the members (itself included)? */
  confirmContext(master: string): string {
    const m = this.nodes.find((n) => n.name === master);
    if (m === undefined || !m.up) return 'master-down';
    const reach = this.nodes.filter((n) => n.up && this.net.reachable(m.host, n.host) && this.net.reachable(n.host, m.host)).length;
    return reach * 2 > this.nodes.length ? 'majority' : 'minority';
  }

  // ---- nodes

  node(name: string): SimNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  get founder(): SimNode {
    return this.nodes[0]!;
  }

  /** A process for the node: the broker node object and its distribution port (app not started). */
  private async spawn(n: SimNode): Promise<void> {
    n.incarnation++;
    n.owner = { host: n.host, incarnation: n.incarnation };
    this.net.restart(n.host);
    await this.clock.as(n.owner, () => this.build(n));
  }

  /**
   * Runs fn as the node's current process, from a timer of its own: the timers it sets, directly or in the promise
   * continuations that run after it, are the node's (they freeze when it hangs).
   */
  onNode(n: SimNode, fn: () => void): void {
    this.clock.as(n.owner, () => this.clock.add(fn, 0, null));
  }

  /** An operator's or a client's call into the node (see onNode). */
  call<T>(n: SimNode, fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => this.onNode(n, () => fn().then(resolve, reject)));
  }

  private async build(n: SimNode): Promise<void> {
    const started = this.clock.now();
    const inc = n.incarnation;
    const log = (line: string): void => {
      this.note(`${n.host}: ${line}`);
      if (line.includes('membership overridden at')) this.checkOverride(n);
      const m = /promoted the mirror on \S+ to master \((\d+) messages(?:, from ([^)]+))?\)|master on \S+ (again) after a restart \((\d+) messages/.exec(line);
      if (m !== null) {
        const how = m[3] !== undefined ? `${m[4]} msgs, replayed after a restart` : `${m[1]} msgs from ${m[2] ?? 'its copy'}`;
        this.promotions.push(`${n.host}@${this.clock.now().toFixed(0)} (${how}, process ${inc} up ${(this.clock.now() - started).toFixed(0)} ms)`);
      }
    };
    const node = new BrokerNode({
      nodeName: n.name,
      listen: false,
      // the memory alarm reads the real process's RSS: keep it out of the simulation
      memoryHighWatermark: Number.MAX_SAFE_INTEGER,
      memoryCheckIntervalMs: 3_600_000,
      stores: { messages: n.disk.messages, definitions: new MemoryDefinitionsStore() },
      log,
    });
    const cluster = new ClusterService(node, {
      log,
      warn: (line) => log(`warning: ${line}`),
      onExit: () => log('exit requested'),
      runCommand,
      partitionHandling: this.partitionHandling,
      env: {
        transport: this.net.transport(n.host),
        resolve: (name: string) => ({ host: name.slice(name.indexOf('@') + 1), port: DIST_PORT }),
        clock: this.clock,
        random: new SeededRandom((this.seed * 31 + this.nodes.indexOf(n) * 1009 + n.incarnation * 7919) >>> 0),
        cookie: COOKIE,
        disk: n.disk,
      },
    });
    n.node = node;
    n.cluster = cluster;
    n.up = true;
    await cluster.listen(n.host, DIST_PORT, '/nonexistent-cookie-file');
  }

  /** Forms the cluster as an operator does: the founder runs, every other node join_cluster's it, then start_app. */
  async form(): Promise<void> {
    const founder = this.founder;
    await this.spawn(founder);
    await this.await(this.call(founder, () => founder.node!.startApp()), 'founder start_app', 5_000);
    for (const n of this.nodes.slice(1)) {
      await this.spawn(n);
      await this.await(this.call(n, () => n.cluster!.join(founder.name, n.type)), `${n.host} join_cluster`, 40_000);
      await this.await(this.call(n, () => n.node!.startApp()), `${n.host} start_app`, 40_000);
      this.note(`${n.host} joined as ${n.type}`);
    }
  }

  /** Runs the clock until the promise settles (it is driven by simulated time); throws on rejection or timeout. */
  async await<T>(p: Promise<T>, what: string, limitMs: number): Promise<T> {
    let done = false;
    let value: T | undefined;
    let error: unknown;
    p.then(
      (v) => {
        done = true;
        value = v;
      },
      (e: unknown) => {
        done = true;
        error = e;
      },
    );
    if (!(await this.clock.runUntil(() => done, limitMs))) throw new Error(`${what}: not done within ${limitMs} ms of simulated time`);
    if (error !== undefined) throw new Error(`${what}: ${(error as Error).message}`);
    return value as T;
  }

  /** Declares the mirrored queue (and its policy) through a node, as a client would. */
  async declare(through: SimNode): Promise<void> {
    const b = through.node!.broker!;
    await this.await(
      this.call(through, () => b.change({ op: 'policy.set', policy: { vhost: VHOST, name: 'ha-all', pattern: '^ha\\.', 'apply-to': 'queues', priority: 0, definition: { 'ha-mode': 'all', 'ha-sync-mode': 'automatic' } } })),
      'set_policy',
      10_000,
    );
    await this.await(
      this.call(through, () => b.change({ op: 'queue.declare', vhost: VHOST, name: this.queue, durable: true, exclusive: false, autoDelete: false, args: {}, node: b.localNode, owner: 0 })),
      'queue.declare',
      10_000,
    );
    this.note(`queue ${this.queue} declared on ${through.host}`);
  }

  /**
   * kill -9 (or the machine lost, when silent): its clients die with it, its links reset (or go quiet), its disc
   * keeps what was written. The dead objects are then stopped so their timers end; they write only to the copy of
   * the disc the next incarnation does not get.
   */
  crash(n: SimNode, silent: boolean): void {
    if (!n.up) return;
    this.note(`crash ${n.host}${silent ? ' (silent)' : ''}${n.hung ? ' (while stopped)' : ''}`);
    if (n.hung) {
      // a stopped process killed: the kernel still resets its connections; its waiting timers never run
      n.hung = false;
      this.net.thaw(n.host);
      this.clock.forget(n.owner);
    }
    for (const c of [...this.publishers, ...this.consumers]) if (c.node === n.name) c.alive = false;
    this.net.crash(n.host, { silent });
    n.disk.crash();
    n.up = false;
    n.starting = false;
    const { node, cluster } = n;
    n.node = null;
    n.cluster = null;
    // not stop_app: a killed process runs no shutdown code (no hand-over of its queues); only its timers must end
    cluster?.stopRaft();
    void node?.broker?.stop('killed').catch(() => undefined);
    void cluster?.close().catch(() => undefined);
  }

  /** Makes a node's disc fail writes and syncs (ENOSPC, EIO, short writes) for a while. */
  diskFaults(n: SimNode, faults: DiskFaults, forMs: number): void {
    this.note(`disk faults on ${n.host} for ${forMs} ms: enospc ${faults.enospc} eio ${faults.eio} short ${faults.short}`);
    n.disk.fs.faults = faults;
    setTimeout(() => {
      n.disk.fs.faults = NO_FAULTS;
      this.note(`disk faults on ${n.host} end`);
    }, forMs);
  }

  /** Every disc works again. */
  clearDiskFaults(): void {
    for (const n of this.nodes) n.disk.fs.faults = NO_FAULTS;
  }

  /** Disc faults injected so far, all nodes. */
  injectedDiskFaults(): number {
    let k = 0;
    for (const n of this.nodes) k += n.disk.fs.injected.enospc + n.disk.fs.injected.eio + n.disk.fs.injected.short;
    return k;
  }

  /** The process starts again on its disc; its app waits for the cluster in the background (as the binary does). */
  async restart(n: SimNode): Promise<void> {
    if (n.up) return;
    this.note(`restart ${n.host}`);
    await this.spawn(n);
    const node = n.node!;
    const inc = n.incarnation;
    n.starting = true;
    this.appStarted(n, inc, this.call(n, () => node.startApp()));
  }

  hangs = 0;

  /** SIGSTOP for ms of simulated time, then SIGCONT: the node's timers and links freeze, then run on from where they were. */
  hang(n: SimNode, ms: number): void {
    if (!n.up || n.hung) return;
    this.note(`hang ${n.host} for ${ms} ms (SIGSTOP)`);
    this.hangs++;
    n.hung = true;
    const owner = n.owner;
    this.clock.freeze(owner);
    this.net.freeze(n.host);
    this.clock.as(null, () => this.clock.add(() => {
      if (n.owner === owner) this.resume(n);
    }, ms, null));
  }

  /** SIGCONT. */
  resume(n: SimNode): void {
    if (!n.hung) return;
    this.note(`resume ${n.host} (SIGCONT)`);
    n.hung = false;
    this.clock.thaw(n.owner);
    this.net.thaw(n.host);
  }

  private appStarted(n: SimNode, inc: number, started: Promise<unknown>): void {
    started.then(
      () => {
        if (n.incarnation !== inc) return;
        n.starting = false;
        this.note(`${n.host} app running`);
      },
      (err: Error) => {
        if (n.incarnation !== inc || !n.up) return;
        // the binary exits when its app cannot start; the supervisor starts it again
        this.note(`${n.host} start_app failed: ${err.message}`);
        n.starting = false;
        this.crash(n, false);
      },
    );
  }

  /** brokerctl stop_app, a pause, start_app (the master hands its queues over first: ha-promote-on-shutdown). */
  restartApp(n: SimNode, pauseMs: number): void {
    const node = n.node;
    if (!n.running || n.starting || node === null || n.hung) return;
    const inc = n.incarnation;
    n.starting = true;
    this.note(`stop_app ${n.host}`);
    const alive = (): boolean => n.incarnation === inc && n.up;
    this.appStopped(n, node, alive, pauseMs, this.call(n, () => node.stopApp()));
  }

  private appStopped(n: SimNode, node: BrokerNode, alive: () => boolean, pauseMs: number, stopped: Promise<void>): void {
    stopped.then(
      () => {
        if (!alive()) return;
        this.note(`${n.host} app stopped`);
        setTimeout(() => {
          if (!alive()) return;
          this.note(`start_app ${n.host}`);
          node.startApp().then(
            () => {
              if (!alive()) return;
              n.starting = false;
              this.note(`${n.host} app running`);
            },
            (err: Error) => {
              if (!alive()) return;
              this.note(`${n.host} start_app failed: ${err.message}`);
              n.starting = false;
              this.crash(n, false);
            },
          );
        }, pauseMs);
      },
      (err: Error) => {
        if (alive()) this.note(`${n.host} stop_app failed: ${err.message}`);
      },
    );
  }

  /** Every publisher publishes once, as its node's code (a publisher whose node is stopped is blocked: it skips). */
  publishAll(): void {
    for (const p of this.publishers) {
      const n = this.nodes.find((x) => x.name === p.node);
      if (n === undefined || n.hung) continue;
      this.onNode(n, () => p.publish(this.queue));
    }
  }

  running(): SimNode[] {
    return this.nodes.filter((n) => n.running);
  }

  // ---- clients

  private newClientNode(prefer?: SimNode): SimNode | undefined {
    if (prefer?.running === true) return prefer;
    const up = this.running();
    return up.length === 0 ? undefined : up[this.clientRandom.uint32() % up.length];
  }

  addPublisher(on?: SimNode): void {
    const n = this.newClientNode(on);
    if (n === undefined) return;
    const p = new SimPublisher(n.node!.broker!, this, `p${++this.clientCount}`);
    this.publishers.push(p);
    this.note(`publisher ${p.connectionId} connects to ${n.host}`);
  }

  addConsumer(on?: SimNode): void {
    const n = this.newClientNode(on);
    if (n === undefined) return;
    const c = new SimConsumer(n.node!.broker!, this, this.clientRandom, this.queue, 1 + (this.clientRandom.uint32() % 20));
    this.consumers.push(c);
    this.note(`consumer ${c.connectionId} connects to ${n.host}`);
    this.onNode(n, () => c.subscribe());
  }

  /** Clients whose connection died reconnect elsewhere; consumers without a subscription subscribe again. */
  tendClients(): void {
    const deadP = this.publishers.filter((p) => !p.connected);
    const deadC = this.consumers.filter((c) => !c.connected);
    this.publishers = this.publishers.filter((p) => p.connected);
    this.consumers = this.consumers.filter((c) => c.connected);
    for (const p of deadP) {
      p.close();
      this.addPublisher();
    }
    for (const c of deadC) {
      c.close();
      this.addConsumer();
    }
    for (const c of this.consumers) {
      if (c.consuming) continue;
      const n = this.nodes.find((x) => x.name === c.node);
      if (n !== undefined) this.onNode(n, () => c.subscribe());
    }
  }

  // ---- observation

  /** The master each running node's applied metadata names, with its Raft position. */
  masterViews(): { node: SimNode; master: string | undefined; applied: number; term: number }[] {
    return this.running().map((n) => {
      const raft = n.cluster?.raft;
      const st = raft?.inspect();
      return { node: n, master: n.node!.broker!.vhosts.get(VHOST)?.queues.get(this.queue)?.node, applied: st?.lastApplied ?? -1, term: st?.term ?? -1 };
    });
  }

  /**
   * At most one master per queue: nodes that have applied the same log prefix name the same master (the promotion
   * is a replicated command, so anything else is a divergent state machine). Separately measured, not a violation in
   * itself: how long two running nodes each believed they were the master (a cut-off old master that has not yet
   * learnt of its successor); whether that loses messages is what the delivery invariant checks.
   */
  checkMasters(): void {
    this.sampleCommits();
    const views = this.masterViews();
    const byIndex = new Map<number, string | undefined>();
    for (const v of views) {
      if (v.applied < 0) continue;
      if (byIndex.has(v.applied) && byIndex.get(v.applied) !== v.master) {
        this.violation(`two masters at applied index ${v.applied}: ${byIndex.get(v.applied)} and ${v.master}`);
      }
      byIndex.set(v.applied, v.master);
    }
    const selfMasters = views.filter((v) => v.master === v.node.name);
    const now = this.clock.now();
    if (selfMasters.length > 1) {
      if (this.dualSince === null) {
        this.dualSince = now;
        this.note(`dual master belief: ${selfMasters.map((v) => `${v.node.host}(term ${v.term}, applied ${v.applied})`).join(', ')}`);
      }
    } else if (this.dualSince !== null) {
      this.dualMasterMs += now - this.dualSince;
      this.dualSince = null;
    }
  }

  /** The highest log entry seen committed anywhere (index and term), sampled with the masters. */
  private maxCommit = { index: 0, term: 0 };
  /** When a disc node took the membership alone without a committed entry (the README's documented limit), if ever */
  rollbackAt: number | null = null;

  private sampleCommits(): void {
    for (const n of this.running()) {
      const st = n.cluster?.raft?.inspect();
      if (st === undefined || st.commitIndex <= this.maxCommit.index) continue;
      const e = st.entries[st.commitIndex - (st.snapshot?.index ?? 0) - 1];
      if (e !== undefined && e.index === st.commitIndex) this.maxCommit = { index: e.index, term: e.term };
    }
  }

  /**
   * A disc node took the membership alone (every other voter a ram member whose process restarted since, or a disc
   * node down before it): if its log lacks an entry that was committed, the cluster's metadata went back to an older
   * state. The broker README's "What it cannot cover" names this case (what the ram members alone held while the disc
   * nodes were down or behind is gone when they all restart); messages confirmed before it by a master the lost
   * entries had promoted can be lost with it, and are counted apart, not as a violation.
   */
  private checkOverride(n: SimNode): void {
    this.sampleCommits();
    const st = n.cluster?.raft?.inspect();
    if (st === undefined) return;
    const at = this.maxCommit.index - (st.snapshot?.index ?? 0) - 1;
    const e = at < 0 ? undefined : st.entries[at];
    const holds = at < 0 ? st.snapshot !== undefined : e !== undefined && e.term === this.maxCommit.term;
    if (holds) return;
    this.rollbackAt = this.clock.now();
    this.note(`metadata rollback: ${n.host} takes the membership alone without committed entry ${this.maxCommit.index} (term ${this.maxCommit.term}), which only ram members that have all restarted since held`);
  }

  /**
   * A disc node that knows no leader because a majority of the voters it knows are ram members whose nodes (or
   * apps: pause_minority, stop_app) have restarted since (each start is a new member: the old one never votes
   * again), while some voter that is not gone still runs, so it may not take the membership alone either: no
   * majority can ever form again without an operator (force_boot). The broker README names this limit (layouts with more ram voters than a majority can lose, such as
   * 1 disc + 4 ram, when three ram nodes restart together). Returns a description, or null when that is not the case.
   */
  quorumLostToRamRestarts(): string | null {
    for (const n of this.nodes) {
      const raft = n.cluster?.raft;
      if (n.type !== 'disc' || raft === undefined || raft === null || raft.leader !== undefined) continue;
      const m = raft.membership();
      const gone = m.voters.filter((v) => {
        if (!v.includes('#')) return false;
        const owner = this.nodes.find((x) => x.name === v.slice(0, v.indexOf('#')));
        return owner !== undefined && owner.cluster?.raft?.id !== v;
      });
      if (gone.length > 0 && gone.length * 2 >= m.voters.length) {
        return `${n.host} (${n.running ? 'running' : 'starting'}, no leader) waits for a majority of voters [${m.voters.join(', ')}] of which ${gone.length} are ram members whose nodes restarted since (${gone.join(', ')})`;
      }
    }
    return null;
  }

  /** All running nodes' metadata, as exportState gives it, equal. */
  checkMetadata(): void {
    const states = this.running().map((n) => [n.host, exportState(n.node!.broker!) as unknown as Record<string, unknown>] as const);
    const [first, ...rest] = states;
    if (first === undefined) return;
    for (const [host, s] of rest) {
      for (const k of Object.keys({ ...first[1], ...s })) {
        const a = JSON.stringify(first[1][k]);
        const b = JSON.stringify(s[k]);
        if (a !== b) this.violation(`metadata differs between ${first[0]} and ${host} in ${k}: ${a.slice(0, 400)} vs ${b.slice(0, 400)}`);
      }
    }
  }

  /** Every confirmed message acked by a consumer at least once. */
  checkDelivery(): { lost: string[]; duplicates: number; lostInRollback: number } {
    let lost = [...this.confirmed.keys()].filter((id) => !this.acked.has(id));
    // confirmed before a metadata rollback (see checkOverride): the documented limit, counted apart
    const rollbackAt = this.rollbackAt;
    const excused = rollbackAt === null ? [] : lost.filter((id) => this.confirmed.get(id)!.at < rollbackAt);
    if (excused.length > 0) {
      this.note(`${excused.length} confirmed messages lost with the metadata rollback at ${rollbackAt!.toFixed(0)} ms (documented limit, not counted as a violation)`);
      lost = lost.filter((id) => this.confirmed.get(id)!.at >= rollbackAt!);
    }
    let duplicates = 0;
    for (const n of this.acked.values()) duplicates += n - 1;
    if (lost.length > 0) {
      const sample = lost.slice(0, 5).map((id) => {
        const c = this.confirmed.get(id)!;
        return `${id} (confirmed at ${c.at.toFixed(1)} through ${c.node}, master ${c.master} on the ${c.context} side)`;
      });
      const kinds = new Map<string, number>();
      for (const id of lost) {
        const k = this.confirmed.get(id)!.context;
        kinds.set(k, (kinds.get(k) ?? 0) + 1);
      }
      const by = [...kinds].map(([k, n]) => `${n} ${k}`).join(', ');
      this.violation(`${lost.length} of ${this.confirmed.size} confirmed messages never delivered (confirmed by a master on the: ${by}): ${sample.join('; ')}; promotions: ${this.promotions.join(', ') || 'none'}`);
    }
    return { lost, duplicates, lostInRollback: excused.length };
  }

  /** Messages still in the queue by every running node's view of it (for the report). */
  queueDepth(): string {
    return this.running()
      .map((n) => {
        const q = n.node!.broker!.vhosts.get(VHOST)?.queues.get(this.queue);
        return `${n.host}:${q === undefined ? '-' : q.node === n.name ? `master ${q.messageCount}` : 'mirror'}`;
      })
      .join(' ');
  }

  /** Stops every node (end of a schedule): timers end, nothing is left on the clock to leak into the next one. */
  async shutdown(): Promise<void> {
    for (const c of [...this.publishers, ...this.consumers]) c.alive = false;
    for (const n of this.nodes) if (n.up) this.crash(n, true);
    await this.clock.run(100);
  }
}
