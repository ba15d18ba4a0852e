// A deterministic simulator for a cluster of RaftNodes: a FakeClock, a seeded network that loses, duplicates,
// delays and reorders messages and can be partitioned, crashes and restarts, and checkers for the Raft safety
// properties (Raft §5.2 Figure 3). Used by the unit tests and by test/cluster/raft-sim.test.ts; a broker-level
// simulator can reuse it. Not used in production.
import { FakeClock, SeededRandom } from '@warren/cluster-peer';
import type { Logger } from '@warren/cluster-peer';
import { RaftNode, type RaftOptions, type RaftStatus } from './node.ts';
import { MemoryStorage, type RaftStorage } from './storage.ts';
import { RaftError, type Membership, type RaftMessage } from './types.ts';

export type SimKind = 'disc' | 'ram';

/** The state machine of one simulated node: the commands it applied, by index. */
export interface SimStateMachine {
  lastIndex: number;
  commands: Array<[number, unknown]>;
}

export interface SimNode {
  readonly id: string;
  readonly kind: SimKind;
  /** Kept across crashes for disc nodes; replaced by an empty one when a ram node restarts. */
  storage: RaftStorage;
  raft: RaftNode | undefined;
  sm: SimStateMachine;
  up: boolean;
  incarnation: number;
}

export interface SimOptions {
  seed: number;
  nodes: ReadonlyArray<{ id: string; kind: SimKind }>;
  /** Written into every listed node's storage as entry 1 (Raft bootstrap). */
  bootstrap: Membership;
  raft?: Partial<Omit<RaftOptions, 'id' | 'transport' | 'storage' | 'clock' | 'random' | 'apply' | 'snapshot' | 'restore'>>;
  /** Storage for a node; default MemoryStorage. Called on first start, and on restart of a ram node. */
  storage?: (id: string, kind: SimKind, fresh: boolean) => RaftStorage;
  /** Reopens a disc node's storage after a crash (e.g. a new FileStorage on the same directory). Default: reuse. */
  reopen?: (id: string, old: RaftStorage) => RaftStorage;
  logger?: Logger;
}

export interface ProposalRecord {
  command: string;
  node: string;
  outcome: 'pending' | 'ok' | 'error';
  index?: number;
  error?: RaftError | Error;
}

export class RaftSim {
  readonly clock = new FakeClock();
  readonly random: SeededRandom;
  readonly nodes = new Map<string, SimNode>();
  readonly violations: string[] = [];
  readonly trace: string[] = [];
  /** The trace as it was when the first violation was found. */
  traceAtFirstViolation: string[] = [];
  readonly proposals: ProposalRecord[] = [];
  /** Every command applied anywhere, by index (applied implies committed). */
  readonly committed = new Map<number, unknown>();
  readonly leaders = new Map<number, string>();
  // Network conditions.
  loss = 0;
  duplicate = 0;
  minDelayMs = 1;
  maxDelayMs = 5;
  messages = 0;
  /** Read barriers that resolved. */
  reads = 0;
  /** Commands found at two indices by checkConvergence (a duplicated forward appended twice). */
  duplicateApplies = 0;
  /** Trace lines kept (the most recent). */
  traceLimit = 400;
  /** Sees every message a live node sends (before loss and partitions); tests check what was durable by then. */
  tap: ((from: string, to: string, msg: RaftMessage) => void) | undefined;
  /** Drops the messages it returns true for (targeted faults in unit tests). */
  dropIf: ((from: string, to: string, msg: RaftMessage) => boolean) | undefined;
  /** Replaces a message in flight (undefined: drop it); for targeted faults in unit tests. */
  rewrite: ((from: string, to: string, msg: RaftMessage) => RaftMessage | undefined) | undefined;
  /** Print trace lines as they happen. */
  echoTrace = false;
  private groups = new Map<string, number>();
  private readonly options: SimOptions;
  private readonly netRandom: SeededRandom;

  constructor(options: SimOptions) {
    this.options = options;
    this.random = new SeededRandom(options.seed);
    this.netRandom = new SeededRandom(options.seed ^ 0x5bd1e995);
    for (const { id, kind } of options.nodes) {
      const storage = options.storage?.(id, kind, true) ?? new MemoryStorage();
      if (options.bootstrap.voters.includes(id) || options.bootstrap.learners.includes(id)) RaftNode.bootstrap(storage, options.bootstrap);
      this.nodes.set(id, { id, kind, storage, raft: undefined, sm: { lastIndex: 0, commands: [] }, up: false, incarnation: 0 });
    }
  }

  node(id: string): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  raft(id: string): RaftNode {
    const r = this.node(id).raft;
    if (r === undefined || !this.node(id).up) throw new Error(`node ${id} is down`);
    return r;
  }

  upIds(): string[] {
    return [...this.nodes.values()].filter((n) => n.up).map((n) => n.id);
  }

  note(line: string): void {
    this.trace.push(`${this.clock.now()} ${line}`);
    if (this.echoTrace) console.log(`${this.clock.now()} ${line}`);
    if (this.trace.length > this.traceLimit) this.trace.splice(0, this.trace.length - this.traceLimit);
  }

  violation(message: string): void {
    if (this.violations.length === 0) this.traceAtFirstViolation = this.trace.slice();
    this.violations.push(`t=${this.clock.now()}: ${message}`);
    this.note(`VIOLATION ${message}`);
  }

  startAll(): void {
    for (const id of this.nodes.keys()) this.start(id);
  }

  /** Starts (or restarts) a node; `overrides` replace RaftOptions for this incarnation only. */
  start(id: string, overrides: SimOptions['raft'] = {}): void {
    const n = this.node(id);
    if (n.up) return;
    n.incarnation++;
    n.sm = { lastIndex: 0, commands: [] };
    const incarnation = n.incarnation;
    const raft = new RaftNode({
      ...this.options.raft,
      ...overrides,
      id,
      storage: n.storage,
      clock: this.clock,
      random: this.random,
      ...(this.options.logger !== undefined ? { logger: this.options.logger } : {}),
      transport: { send: (to, msg) => this.send(id, incarnation, to, msg) },
      apply: (command, index) => this.onApply(n, command, index),
      snapshot: () => ({ lastIndex: n.sm.lastIndex, commands: n.sm.commands.slice() }),
      restore: (data) => this.onRestore(n, data as SimStateMachine),
      onStatusChange: (status) => this.onStatus(n, status),
    });
    n.raft = raft;
    n.up = true;
    this.note(`start ${id} (${n.kind}, incarnation ${incarnation})`);
    raft.start();
  }

  /** Kills a node: timers stop, messages to it are dropped. A ram node's storage is gone when it restarts. */
  crash(id: string): void {
    const n = this.node(id);
    if (!n.up) return;
    n.up = false;
    n.raft?.stop();
    n.raft = undefined;
    if (n.kind === 'ram') n.storage = this.options.storage?.(id, n.kind, true) ?? new MemoryStorage();
    else if (this.options.reopen !== undefined) n.storage = this.options.reopen(id, n.storage);
    this.note(`crash ${id}`);
  }

  restart(id: string): void {
    this.crash(id);
    this.start(id);
  }

  /** Splits the nodes into groups that cannot talk to each other (nodes not listed form one more group). */
  partition(groups: string[][]): void {
    this.groups = new Map();
    groups.forEach((g, i) => g.forEach((id) => this.groups.set(id, i + 1)));
    this.note(`partition ${groups.map((g) => `[${g.join(',')}]`).join(' ')}`);
  }

  heal(): void {
    this.groups = new Map();
    this.note('heal');
  }

  connected(a: string, b: string): boolean {
    return (this.groups.get(a) ?? 0) === (this.groups.get(b) ?? 0);
  }

  /** Proposes a command on a node and records the outcome. */
  propose(id: string, command: string): ProposalRecord {
    const rec: ProposalRecord = { command, node: id, outcome: 'pending' };
    this.proposals.push(rec);
    this.note(`propose ${command} on ${id}`);
    this.raft(id).propose(command).then(
      (r) => {
        rec.outcome = 'ok';
        rec.index = r.index;
        this.note(`acked ${command} at ${r.index} on ${id}`);
        // Acknowledged means committed and applied here.
        if (this.committed.get(r.index) !== command) this.violation(`${command} acked at ${r.index} on ${id} but ${String(this.committed.get(r.index))} was applied there`);
      },
      (e: Error) => {
        rec.outcome = 'error';
        rec.error = e;
        this.note(`failed ${command} on ${id}: ${e.message}`);
      },
    );
    return rec;
  }

  /** Calls readBarrier on a node and checks linearizability: when it resolves, the node has applied every
   *  proposal acknowledged (on any node) before the call. */
  readBarrier(id: string): void {
    const before = this.proposals.filter((p) => p.outcome === 'ok').map((p) => p.command);
    const n = this.node(id);
    const incarnation = n.incarnation;
    this.note(`read barrier on ${id}`);
    this.raft(id).readBarrier().then(
      (r) => {
        this.reads++;
        if (n.incarnation !== incarnation) return;
        const applied = new Set(n.sm.commands.map(([, c]) => c));
        const missing = before.filter((c) => !applied.has(c));
        if (missing.length > 0) this.violation(`linearizability: read barrier on ${id} (index ${r.index}) resolved without ${missing.slice(0, 3).join(', ')}`);
      },
      (e: Error) => this.note(`read barrier on ${id} failed: ${e.message}`),
    );
  }

  /** Advances simulated time, letting promise callbacks run between steps. */
  async run(ms: number, stepMs = 50): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) {
      this.clock.advanceSync(Math.min(stepMs, end - this.clock.now()));
      await settle();
    }
  }

  /** Runs until predicate holds; false if it did not within limitMs. */
  async runUntil(predicate: () => boolean, limitMs: number, stepMs = 20): Promise<boolean> {
    const end = this.clock.now() + limitMs;
    await settle();
    while (!predicate()) {
      if (this.clock.now() >= end) return false;
      this.clock.advanceSync(stepMs);
      await settle();
    }
    return true;
  }

  leader(): RaftNode | undefined {
    let best: RaftNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.up && n.raft?.isLeader() && (best === undefined || n.raft.status().term > best.status().term)) best = n.raft;
    }
    return best;
  }

  // ---- network ----

  private send(from: string, incarnation: number, to: string, msg: RaftMessage): void {
    const sender = this.node(from);
    if (!sender.up || sender.incarnation !== incarnation) return;
    this.messages++;
    this.tap?.(from, to, msg);
    if (!this.nodes.has(to) || !this.connected(from, to)) return;
    if (this.dropIf?.(from, to, msg) === true) return;
    if (this.rewrite !== undefined) {
      const replaced = this.rewrite(from, to, msg);
      if (replaced === undefined) return;
      msg = replaced;
    }
    if (this.netRandom.float() < this.loss) return;
    const copies = this.netRandom.float() < this.duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      // Each copy is encoded like the wire would, and gets its own delay: messages overtake each other.
      const copy = structuredClone(msg);
      const delay = this.minDelayMs + Math.floor(this.netRandom.float() * (this.maxDelayMs - this.minDelayMs + 1));
      this.clock.setTimeout(() => {
        const target = this.nodes.get(to);
        if (target === undefined || !target.up || !this.connected(from, to)) return;
        target.raft?.receive(from, copy);
      }, delay);
    }
  }

  // ---- state machines and checks ----

  private onApply(n: SimNode, command: unknown, index: number): void {
    if (index <= n.sm.lastIndex) this.violation(`${n.id} applied index ${index} after ${n.sm.lastIndex} (order / exactly-once)`);
    n.sm.lastIndex = index;
    n.sm.commands.push([index, command]);
    const prior = this.committed.get(index);
    if (prior === undefined) this.committed.set(index, command);
    else if (prior !== command) this.violation(`state machine safety: ${n.id} applied ${String(command)} at ${index}, another node applied ${String(prior)}`);
  }

  private onRestore(n: SimNode, data: SimStateMachine): void {
    n.sm = { lastIndex: data.lastIndex, commands: data.commands.slice() };
    for (const [index, command] of data.commands) {
      const prior = this.committed.get(index);
      if (prior === undefined) this.committed.set(index, command);
      else if (prior !== command) this.violation(`state machine safety: ${n.id} restored ${String(command)} at ${index}, another node applied ${String(prior)}`);
    }
    this.note(`${n.id} restored snapshot up to ${data.lastIndex}`);
  }

  private onStatus(n: SimNode, status: RaftStatus): void {
    this.note(`${n.id} ${status.role} term ${status.term} leader ${status.leaderId ?? '-'} members ${status.members.map((m) => m.id + (m.voter ? '' : '(l)')).join(',')}`);
    if (status.role !== 'leader') return;
    // Election safety: at most one leader per term.
    const other = this.leaders.get(status.term);
    if (other !== undefined && other !== n.id) this.violation(`election safety: ${n.id} and ${other} both leaders in term ${status.term}`);
    if (other !== undefined) return;
    this.leaders.set(status.term, n.id);
    // Leader completeness: the new leader's log holds every committed (applied anywhere) command.
    const view = n.raft?.inspect();
    if (view === undefined) return;
    const snapIndex = view.snapshot?.index ?? 0;
    const snapCommands = new Map((view.snapshot?.data as SimStateMachine | undefined)?.commands ?? []);
    for (const [index, command] of this.committed) {
      if (index <= snapIndex) {
        if (snapCommands.get(index) !== command) this.violation(`leader completeness: ${n.id} (term ${status.term}) snapshot lacks ${String(command)} at ${index}`);
        continue;
      }
      const e = view.entries[index - snapIndex - 1];
      if (e === undefined || e.type !== 'command' || e.command !== command) {
        this.violation(`leader completeness: ${n.id} (term ${status.term}) lacks committed ${String(command)} at ${index}`);
      }
    }
  }

  /** Log matching (Raft §5.3): if two logs hold an entry with the same index and term, they are identical up to it. */
  checkLogMatching(): void {
    const ups = [...this.nodes.values()].filter((n) => n.up && n.raft !== undefined);
    for (let i = 0; i < ups.length; i++) {
      for (let j = i + 1; j < ups.length; j++) {
        const a = ups[i]!.raft!.inspect();
        const b = ups[j]!.raft!.inspect();
        const aBase = a.snapshot?.index ?? 0;
        const bBase = b.snapshot?.index ?? 0;
        const lo = Math.max(aBase, bBase) + 1;
        const hi = Math.min(aBase + a.entries.length, bBase + b.entries.length);
        let matched = false;
        for (let k = hi; k >= lo; k--) {
          const ea = a.entries[k - aBase - 1]!;
          const eb = b.entries[k - bBase - 1]!;
          if (!matched && ea.term === eb.term) matched = true;
          if (matched && JSON.stringify(ea) !== JSON.stringify(eb)) {
            this.violation(`log matching: ${ups[i]!.id} and ${ups[j]!.id} differ at ${k} below a common entry`);
            return;
          }
        }
      }
    }
  }

  /** After healing: every up node applied the same commands, including every acknowledged one; commands that
   *  failed with an outcome known to be "not committed" were applied nowhere. */
  checkConvergence(): void {
    const ups = [...this.nodes.values()].filter((n) => n.up);
    const reference = ups[0];
    if (reference === undefined) return;
    const key = (sm: SimStateMachine): string => JSON.stringify(sm.commands);
    for (const n of ups) {
      if (key(n.sm) !== key(reference.sm)) {
        this.violation(`convergence: ${n.id} applied up to ${n.sm.lastIndex} (${n.sm.commands.length} commands), ${reference.id} up to ${reference.sm.lastIndex} (${reference.sm.commands.length})`);
      }
    }
    const seen = new Set<unknown>();
    for (const [, c] of reference.sm.commands) {
      if (seen.has(c)) this.duplicateApplies++;
      seen.add(c);
    }
    for (const n of ups) {
      const applied = new Map(n.sm.commands.map(([i, c]) => [c, i] as const));
      for (const p of this.proposals) {
        if (p.outcome === 'ok' && applied.get(p.command) !== p.index) this.violation(`durability: ${p.command} acked at ${p.index} is not applied on ${n.id}`);
        if (p.outcome === 'error' && p.error instanceof RaftError && !p.error.outcomeUnknown && applied.has(p.command)) {
          this.violation(`${p.command} failed with ${p.error.code} (not committed) but ${n.id} applied it`);
        }
      }
    }
  }
}

function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
