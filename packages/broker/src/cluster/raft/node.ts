// The Raft core. A RaftNode is a pure state machine over four injected things: a Clock (timers), a Random
// (election timeout jitter, request ids), a RaftTransport (messages out; the owner calls receive() with messages in)
// and a RaftStorage (synchronous, durable). It never touches sockets, real timers or Date.now, so a simulator can
// drive a whole cluster deterministically from a seed.
//
// Section references: "Raft §x" = the extended Raft paper; "§4.x", "§9.6", "§10.2.1" = Ongaro's dissertation.
import type { Clock, Logger, Random, TimerHandle } from '@warren/cluster-peer';
import type { RaftStorage } from './storage.ts';
import {
  EMPTY_MEMBERSHIP,
  NoLeaderError,
  RaftError,
  type AppendRequest,
  type AppendResponse,
  type ForwardOp,
  type ForwardRequest,
  type ForwardResponse,
  type LogEntry,
  type MemberRole,
  type Membership,
  type RaftMessage,
  type RaftTransport,
  type Snapshot,
  type SnapshotRequest,
  type SnapshotResponse,
  type VoteRequest,
  type VoteResponse,
} from './types.ts';

export interface RaftOptions {
  /** This node's id (the broker's node name, e.g. rabbit@node-a). */
  id: string;
  transport: RaftTransport;
  storage: RaftStorage;
  clock: Clock;
  random: Random;
  logger?: Logger;
  /** Applies a committed command. Called in log order, exactly once per index in the life of this RaftNode
   *  (after a restart, again from the snapshot and the log). Must be deterministic and must not throw. */
  apply(command: unknown, index: number): void;
  /** Returns the state machine as of the last applied index: an immutable value the storage can encode. */
  snapshot(): unknown;
  /** Replaces the state machine with a snapshot's data (on start, and when a leader sends a snapshot). */
  restore(data: unknown): void;
  /** Called after role, term, leader or membership changes (for logs and cluster_status); must not throw. */
  onStatusChange?(status: RaftStatus): void;
  /** Called once if the node stopped itself because of an internal failure (e.g. its storage threw). */
  onFatal?(error: Error): void;
  /** Election timeout range, ms (Raft §5.2); defaults 300 and 600. */
  electionTimeoutMinMs?: number;
  electionTimeoutMaxMs?: number;
  /** Leader heartbeat interval, ms; default 100. */
  heartbeatMs?: number;
  /** Take a snapshot and compact the log once this many entries were applied since the last one; default 1000. */
  snapshotThreshold?: number;
  /** Most entries in one AppendEntries; default 256. */
  maxBatchEntries?: number;
  /** How long an unanswered InstallSnapshot waits before it is sent again, ms; default 3000 (it can be large). */
  snapshotRetryMs?: number;
  /** How long propose() waits for a leader to be known before NoLeaderError; default 2 x electionTimeoutMaxMs. */
  leaderWaitMs?: number;
  /** How long propose() waits for commitment before a TIMEOUT error (outcome unknown); default 5000. */
  proposeTimeoutMs?: number;
}

export type RaftRole = 'leader' | 'candidate' | 'follower' | 'learner' | 'stopped';

export interface MemberStatus {
  id: string;
  voter: boolean;
  /** A learner that becomes a voter once it has caught up (a disc node that joined or was changed to disc). */
  promoting: boolean;
  /** Highest log index known to be stored on that member (the leader knows it for everyone; others only for self). */
  matchIndex: number | undefined;
  /** Milliseconds since the leader last heard from it (leader only). */
  lastContactMsAgo: number | undefined;
}

export interface RaftStatus {
  id: string;
  role: RaftRole;
  term: number;
  leaderId: string | undefined;
  commitIndex: number;
  lastApplied: number;
  lastLogIndex: number;
  snapshotIndex: number;
  members: MemberStatus[];
}

interface Progress {
  next: number;
  match: number;
  /** Last index of the AppendEntries batch awaiting an answer, 0 when none. */
  inflightEnd: number;
  inflightAt: number;
  /** When the last InstallSnapshot was sent, -Infinity when none is outstanding. */
  snapshotAt: number;
  lastAck: number;
  /** Highest heartbeat round it answered in this term. */
  ackedSeq: number;
}

interface Request {
  readonly op: ForwardOp;
  readonly requestId: string;
  readonly submittedAt: number;
  resolve(result: { index: number }): void;
  reject(error: Error): void;
  timer: TimerHandle | undefined;
  /** waiting: for a leader; forwarded: to `target`; pending: appended at (index, term), waiting to be applied. */
  state: 'waiting' | 'forwarded' | 'pending' | 'retry';
  target: string | undefined;
  index: number;
  term: number;
  /** Whether the op may have reached a leader's log (decides outcomeUnknown of a later error). */
  submitted: boolean;
  lastRefusal: string;
}

type InternalRole = 'follower' | 'precandidate' | 'candidate' | 'leader';

const DEDUP_LIMIT = 4096;

/** After the leader's connection ends, a follower campaigns within this (random, to spread the candidates). */
const PEER_LOST_ELECTION_MAX_MS = 60;

export class RaftNode {
  readonly id: string;
  private readonly transport: RaftTransport;
  private readonly storage: RaftStorage;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly logger: Logger | undefined;
  private readonly options: RaftOptions;
  private readonly electionMin: number;
  private readonly electionMax: number;
  private readonly heartbeatMs: number;
  private readonly snapshotThreshold: number;
  private readonly maxBatch: number;
  private readonly snapshotRetryMs: number;
  private readonly leaderWaitMs: number;
  private readonly proposeTimeoutMs: number;

  // Persistent state (Raft Figure 2), mirrored from storage.
  private term = 0;
  private votedFor: string | null = null;
  private log: LogEntry[] = [];
  private snap: Snapshot | undefined;
  // Volatile state.
  private role: InternalRole = 'follower';
  private stopped = false;
  private started = false;
  private leaderId: string | undefined;
  private commitIndex = 0;
  private lastApplied = 0;
  /** Latest membership in the log, committed or not (§4.1), and the index of the entry that carries it. */
  private config: Membership = EMPTY_MEMBERSHIP;
  private configIndex = 0;
  private votes = new Set<string>();
  private lastLeaderContact = -Infinity;
  // Leader state.
  private progress = new Map<string, Progress>();
  /** Index up to which the leader's own log is on storage (entries are batched, §10.2.1). */
  private persistedIndex = 0;
  /** Index of the no-op this leader appended; membership changes wait until it is committed (§4.1 bug fix). */
  private leaderReadyIndex = Infinity;
  private readonly dedup = new Map<string, { index: number; term: number }>();
  /** Heartbeat round counter and the reads waiting for a majority to answer a round (§6.4). */
  private heartbeatSeq = 0;
  private pendingReads: Array<{ seq: number; readIndex: number; done: (index: number | undefined) => void }> = [];
  // Timers.
  private electionTimer: TimerHandle | undefined;
  private heartbeatTimer: TimerHandle | undefined;
  private quorumTimer: TimerHandle | undefined;
  private flushTimer: TimerHandle | undefined;
  private leaderLostTimer: TimerHandle | undefined;
  // Requests (propose / membership changes) made on this node.
  private requestSeq = 0;
  private readonly incarnation: string;
  private readonly requests = new Map<string, Request>();
  private readonly pendingByIndex = new Map<number, Request[]>();
  private lastStatusKey = '';

  constructor(options: RaftOptions) {
    this.options = options;
    this.id = options.id;
    this.transport = options.transport;
    this.storage = options.storage;
    this.clock = options.clock;
    this.random = options.random;
    this.logger = options.logger;
    this.electionMin = options.electionTimeoutMinMs ?? 300;
    this.electionMax = Math.max(this.electionMin + 1, options.electionTimeoutMaxMs ?? 600);
    this.heartbeatMs = options.heartbeatMs ?? 100;
    this.snapshotThreshold = Math.max(1, options.snapshotThreshold ?? 1000);
    this.maxBatch = Math.max(1, options.maxBatchEntries ?? 256);
    this.snapshotRetryMs = options.snapshotRetryMs ?? 3000;
    this.leaderWaitMs = options.leaderWaitMs ?? 2 * this.electionMax;
    this.proposeTimeoutMs = options.proposeTimeoutMs ?? 5000;
    this.incarnation = this.random.uint32().toString(36);

    const stored = this.storage.load();
    this.term = stored.term;
    this.votedFor = stored.votedFor;
    this.snap = stored.snapshot;
    this.log = stored.entries.slice();
    const base = this.snapIndex;
    this.log.forEach((e, i) => {
      if (e.index !== base + 1 + i) throw new Error(`raft ${this.id}: stored log has a gap at index ${base + 1 + i}`);
    });
    this.persistedIndex = this.lastIndex;
    this.recomputeConfig();
    // Request ids of the commands in the log: a duplicated forward arriving after a restart is recognised.
    for (const e of this.log) if (e.type === 'command' && e.rid !== undefined) this.remember(e.rid, e.index, e.term);
  }

  /**
   * Writes the initial membership as log entry 1 (term 0) into empty storage: the first disc node of a new cluster
   * calls this with itself as the only voter (several nodes may bootstrap together if they all pass the same
   * membership). A node that joins an existing cluster must NOT bootstrap: it starts empty and waits for the leader.
   * Returns false (and writes nothing) if the storage already holds state.
   */
  static bootstrap(storage: RaftStorage, membership: Membership): boolean {
    const stored = storage.load();
    if (stored.term !== 0 || stored.snapshot !== undefined || stored.entries.length > 0) return false;
    if (membership.voters.length === 0) throw new RaftError('REFUSED', 'a cluster needs at least one voter (disc node)', false);
    storage.append([{ index: 1, term: 0, type: 'config', config: normalize(membership) }]);
    return true;
  }

  /** Restores the state machine from the stored snapshot (if any) and starts the timers. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    if (this.snap !== undefined) {
      this.options.restore(this.snap.data);
      this.commitIndex = this.lastApplied = this.snap.index;
    }
    this.log_('info', `starting at term ${this.term}, log ${this.snapIndex + 1}..${this.lastIndex}, ${describe(this.config)}`);
    this.resetElectionTimer();
    this.emitStatus();
    // The only voter has nobody to wait for or to disrupt: lead at once (a single disc node starts quickly).
    if (this.config.voters.length === 1 && this.isVoter()) this.campaign(true);
  }

  /**
   * The override of the majority rule on a running node that knows no leader, for when the voters that could form a
   * majority with it can never answer again (in-memory voters whose process is gone, or the last-down-first-up
   * rule): appends `config` at a new term to this node's own log, as force_boot does offline, and campaigns at once
   * if it is now the only voter. What the lost voters committed without this node is lost with them.
   */
  overrideMembership(config: Membership): boolean {
    if (this.stopped || !this.started || this.role === 'leader' || this.leaderId !== undefined) return false;
    const next = normalize(config);
    if (!next.voters.includes(this.id)) return false;
    this.term += 1;
    this.votedFor = null;
    this.persistState();
    const entry: LogEntry = { index: this.lastIndex + 1, term: this.term, type: 'config', config: next };
    this.flush();
    this.storage.append([entry]);
    this.log.push(entry);
    this.persistedIndex = this.lastIndex;
    this.recomputeConfig();
    this.log_('warn', `membership overridden at ${entry.index}, term ${this.term}: ${describe(next)}`);
    this.emitStatus();
    if (next.voters.length === 1) this.campaign(true);
    else this.resetElectionTimer();
    return true;
  }

  /**
   * The owner's transport saw the connection to `id` end (a process killed, its socket reset): if it was the
   * leader, this follower stops waiting for its heartbeats and campaigns after a short random delay (the other
   * followers usually learn of it at the same moment, so their pre-votes grant). Liveness only: votes and commits
   * follow the usual rules, so a wrong guess costs at most an election.
   */
  peerLost(id: string): void {
    if (this.stopped || !this.started || this.role === 'leader' || this.leaderId !== id) return;
    this.lastLeaderContact = -Infinity;
    this.setLeader(undefined);
    if (this.electionTimer !== undefined) this.clock.clearTimeout(this.electionTimer);
    this.electionTimer = this.timer(() => this.onElectionTimeout(), Math.floor(this.random.float() * PEER_LOST_ELECTION_MAX_MS));
  }

  /** Stops timers and fails outstanding requests with STOPPED. Storage is closed. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    try {
      this.flush();
      // a leader that stops tells its followers the commit index once more: what it committed (a hand-over of queues
      // before its app stops) applies there now, not after the next leader's election
      if (this.role === 'leader') for (const peer of this.progress.keys()) this.sendAppend(peer, true);
    } catch (error) {
      this.log_('error', `could not write the last entries on stop: ${String(error)}`);
    }
    this.stopped = true;
    for (const t of [this.electionTimer, this.heartbeatTimer, this.quorumTimer, this.flushTimer, this.leaderLostTimer]) {
      if (t !== undefined) this.clock.clearTimeout(t);
    }
    this.electionTimer = this.heartbeatTimer = this.quorumTimer = this.flushTimer = this.leaderLostTimer = undefined;
    for (const req of [...this.requests.values()]) {
      this.fail(req, new RaftError('STOPPED', `raft node ${this.id} stopped`, req.submitted));
    }
    try {
      this.storage.close();
    } catch (error) {
      this.log_('error', `closing storage failed: ${String(error)}`);
    }
    this.emitStatus();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Public API: proposals, membership, status.

  /**
   * Replicates a command. On any node: a follower forwards it to the leader. Resolves once the command is committed
   * and applied on THIS node (so a read right after sees it). Rejects with NoLeaderError when no leader is known
   * within leaderWaitMs (nothing was submitted), or a RaftError: TIMEOUT / UNKNOWN / STOPPED (outcomeUnknown: it may
   * still be committed) or LOST (definitely not committed).
   */
  propose(command: unknown): Promise<{ index: number }> {
    return this.submit({ kind: 'command', command });
  }

  /**
   * One membership change, one server at a time (§4.1): role 'voter' adds a disc node or promotes a learner,
   * 'learner' adds a ram node or demotes a voter, 'absent' removes a node (forget_cluster_node). Works on any node
   * (forwarded to the leader). Refused (REFUSED) if it would leave no voter. Resolves once the new membership is
   * committed and applied here; a change to the current membership resolves at once. A 'voter' that has not
   * caught up (or is not running yet) is added as a learner marked `promoting`, and the call resolves then: the
   * leader promotes it by itself once it has caught up (status().members[].promoting until then).
   */
  changeMembership(id: string, role: MemberRole, options: { timeoutMs?: number } = {}): Promise<{ index: number }> {
    return this.submit({ kind: 'member', id, role }, options.timeoutMs);
  }

  /** join_cluster / change_cluster_node_type disc. A node that has not caught up joins as a learner marked
   *  `promoting`, and the leader makes it a voter once it has caught up; the promise does not wait for that. */
  addVoter(id: string, options: { timeoutMs?: number } = {}): Promise<{ index: number }> {
    return this.changeMembership(id, 'voter', options);
  }

  /** join_cluster --ram / change_cluster_node_type ram. */
  addLearner(id: string, options: { timeoutMs?: number } = {}): Promise<{ index: number }> {
    return this.changeMembership(id, 'learner', options);
  }

  /** forget_cluster_node. */
  removeMember(id: string, options: { timeoutMs?: number } = {}): Promise<{ index: number }> {
    return this.changeMembership(id, 'absent', options);
  }

  /**
   * Linearizable read barrier (ReadIndex, §6.4): resolves once this node has applied every change committed before
   * the call (on any node), so local reads after it see them; nothing is written to the log. Rejects like propose
   * (NoLeaderError when no leader is reachable); it never has side effects, so any error can simply be retried.
   */
  readBarrier(options: { timeoutMs?: number } = {}): Promise<{ index: number }> {
    return this.submit({ kind: 'read' }, options.timeoutMs);
  }

  /** The latest membership this node knows (possibly not yet committed). */
  membership(): Membership {
    return this.config;
  }

  isLeader(): boolean {
    return this.role === 'leader' && !this.stopped;
  }

  get leader(): string | undefined {
    return this.leaderId;
  }

  status(): RaftStatus {
    const now = this.clock.now();
    const members: MemberStatus[] = [];
    for (const [ids, voter] of [[this.config.voters, true], [this.config.learners, false]] as const) {
      for (const id of ids) {
        const p = this.progress.get(id);
        const self = id === this.id;
        members.push({
          id,
          voter,
          promoting: this.config.promoting?.includes(id) === true,
          matchIndex: self ? this.persistedIndex : this.role === 'leader' ? p?.match : undefined,
          lastContactMsAgo: self ? 0 : this.role === 'leader' && p !== undefined ? now - p.lastAck : undefined,
        });
      }
    }
    return {
      id: this.id,
      role: this.publicRole(),
      term: this.term,
      leaderId: this.leaderId,
      commitIndex: this.commitIndex,
      lastApplied: this.lastApplied,
      lastLogIndex: this.lastIndex,
      snapshotIndex: this.snapIndex,
      members,
    };
  }

  /** Read-only view of the log for tests and simulators. */
  inspect(): { term: number; votedFor: string | null; snapshot: Snapshot | undefined; entries: readonly LogEntry[]; commitIndex: number; lastApplied: number } {
    return { term: this.term, votedFor: this.votedFor, snapshot: this.snap, entries: this.log, commitIndex: this.commitIndex, lastApplied: this.lastApplied };
  }

  /** Delivers a message from another node. */
  receive(from: string, msg: RaftMessage): void {
    if (this.stopped || !this.started || from === this.id) return;
    this.guard(() => this.dispatchMessage(from, msg));
  }

  private dispatchMessage(from: string, msg: RaftMessage): void {
    switch (msg.type) {
      case 'append': return this.onAppend(from, msg);
      case 'appendResponse': return this.onAppendResponse(from, msg);
      case 'vote': return this.onVote(from, msg);
      case 'voteResponse': return this.onVoteResponse(from, msg);
      case 'snapshot': return this.onSnapshot(from, msg);
      case 'snapshotResponse': return this.onSnapshotResponse(from, msg);
      case 'forward': return this.onForward(from, msg);
      case 'forwardResponse': return this.onForwardResponse(from, msg);
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Log helpers.

  private get snapIndex(): number {
    return this.snap?.index ?? 0;
  }

  private get snapTerm(): number {
    return this.snap?.term ?? 0;
  }

  private get lastIndex(): number {
    return this.snapIndex + this.log.length;
  }

  private get lastTerm(): number {
    return this.log.length > 0 ? this.log[this.log.length - 1]!.term : this.snapTerm;
  }

  private entryAt(index: number): LogEntry | undefined {
    return this.log[index - this.snapIndex - 1];
  }

  /** Term of the entry at index; undefined if compacted (below the snapshot) or beyond the log. */
  private termAt(index: number): number | undefined {
    if (index === this.snapIndex) return this.snapTerm;
    return this.entryAt(index)?.term;
  }

  private isVoter(id = this.id): boolean {
    return this.config.voters.includes(id);
  }

  private isMember(id: string): boolean {
    return this.config.voters.includes(id) || this.config.learners.includes(id);
  }

  private configAt(index: number): Membership {
    for (let i = Math.min(index, this.lastIndex); i > this.snapIndex; i--) {
      const e = this.entryAt(i)!;
      if (e.type === 'config') return e.config;
    }
    return this.snap?.config ?? EMPTY_MEMBERSHIP;
  }

  private recomputeConfig(): void {
    for (let i = this.lastIndex; i > this.snapIndex; i--) {
      const e = this.entryAt(i)!;
      if (e.type === 'config') {
        this.config = e.config;
        this.configIndex = i;
        return;
      }
    }
    this.config = this.snap?.config ?? EMPTY_MEMBERSHIP;
    this.configIndex = this.snapIndex;
  }

  /** A voter campaigns. So does a voter of the previous membership while the latest one (which demotes or removes
   *  it) is not known to be committed: otherwise a leader that demoted itself and then stepped down (check-quorum)
   *  could leave the change uncommitted forever, with the remaining voters unable to win without its vote. Votes
   *  are always counted in the latest membership (§4.1), so who campaigns does not affect safety. */
  private canCampaign(): boolean {
    if (this.isVoter()) return true;
    return this.configIndex > this.commitIndex && this.configAt(this.configIndex - 1).voters.includes(this.id);
  }

  private voteCount(): number {
    let n = 0;
    for (const v of this.votes) if (this.config.voters.includes(v)) n++;
    return n;
  }

  private quorum(): number {
    return Math.floor(this.config.voters.length / 2) + 1;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Roles, terms, timers.

  private persistState(): void {
    this.storage.saveState(this.term, this.votedFor);
  }

  /** currentTerm and votedFor on storage first, then in memory: a write that fails (a full disc) changes neither. */
  private saveTermVote(term: number, votedFor: string | null): void {
    this.storage.saveState(term, votedFor);
    this.term = term;
    this.votedFor = votedFor;
  }

  /** Adopts a newer term (Raft §5.1: "If RPC request or response contains term T > currentTerm: set currentTerm =
   *  T, convert to follower"). The new term and the cleared vote are on storage before anything else happens. */
  private adoptTerm(term: number, leader: string | undefined): void {
    if (term > this.term) this.saveTermVote(term, null);
    this.becomeFollower(leader);
  }

  private becomeFollower(leader: string | undefined): void {
    const wasLeader = this.role === 'leader';
    if (wasLeader) this.flush();
    this.role = 'follower';
    this.votes.clear();
    if (this.heartbeatTimer !== undefined) this.clock.clearTimeout(this.heartbeatTimer);
    if (this.quorumTimer !== undefined) this.clock.clearTimeout(this.quorumTimer);
    this.heartbeatTimer = this.quorumTimer = undefined;
    if (wasLeader) {
      this.leaderReadyIndex = Infinity;
      this.progress.clear();
      const reads = this.pendingReads;
      this.pendingReads = [];
      for (const r of reads) r.done(undefined);
    }
    this.setLeader(leader);
    if (this.electionTimer === undefined) this.resetElectionTimer();
    this.emitStatus();
  }

  private setLeader(leader: string | undefined): void {
    if (this.leaderId === leader) return;
    this.leaderId = leader;
    if (this.leaderLostTimer !== undefined) this.clock.clearTimeout(this.leaderLostTimer);
    this.leaderLostTimer = undefined;
    if (leader !== undefined) this.dispatchWaiting();
    else this.leaderLostTimer = this.timer(() => this.onLeaderLost(), this.leaderWaitMs);
    this.emitStatus();
  }

  /** No leader for leaderWaitMs (after an election timeout without one): requests already handed to a leader fail
   *  now rather than at their timeout (a minority side answers within ~2 s), saying they may still commit. */
  private onLeaderLost(): void {
    this.leaderLostTimer = undefined;
    if (this.leaderId !== undefined) return;
    for (const req of [...this.requests.values()]) {
      if (req.state !== 'pending' && req.state !== 'forwarded') continue;
      if (req.op.kind === 'read') this.fail(req, new NoLeaderError());
      else this.fail(req, new NoLeaderError('no leader: no disc node reachable to confirm the change; it may still be committed', true));
    }
  }

  private resetElectionTimer(): void {
    if (this.stopped) return;
    if (this.electionTimer !== undefined) this.clock.clearTimeout(this.electionTimer);
    const timeout = this.electionMin + Math.floor(this.random.float() * (this.electionMax - this.electionMin));
    this.electionTimer = this.timer(() => this.onElectionTimeout(), timeout);
  }

  private onElectionTimeout(): void {
    this.electionTimer = undefined;
    if (this.stopped) return;
    if (this.role === 'leader') return;
    // No word from a leader for a whole election timeout: forget it, so proposals fail fast with NoLeaderError.
    this.setLeader(undefined);
    this.resetElectionTimer();
    // Only voters campaign; a learner (ram node), or a node not (yet) in any membership, waits for a leader.
    if (this.canCampaign()) this.campaign(true);
  }

  /** Starts a pre-vote (§9.6) or a real election (Raft §5.2). */
  private campaign(pre: boolean): void {
    this.votes = new Set([this.id]);
    if (pre) {
      this.role = 'precandidate';
    } else {
      this.saveTermVote(this.term + 1, this.id); // Raft §5.2: vote for self, durably, before asking others
      this.role = 'candidate';
      this.resetElectionTimer(); // a full, fresh randomized timeout for this election
      this.log_('debug', `campaigning in term ${this.term}`);
    }
    this.emitStatus();
    if (this.voteCount() >= this.quorum()) {
      if (pre) this.campaign(false);
      else this.becomeLeader();
      return;
    }
    const req: VoteRequest = { type: 'vote', term: pre ? this.term + 1 : this.term, pre, lastIndex: this.lastIndex, lastTerm: this.lastTerm };
    for (const peer of this.config.voters) if (peer !== this.id) this.send(peer, req);
  }

  private becomeLeader(): void {
    this.role = 'leader';
    this.log_('info', `leader in term ${this.term} (${describe(this.config)})`);
    if (this.electionTimer !== undefined) this.clock.clearTimeout(this.electionTimer);
    this.electionTimer = undefined;
    const now = this.clock.now();
    const next = this.lastIndex + 1;
    this.progress.clear();
    for (const id of [...this.config.voters, ...this.config.learners]) {
      if (id !== this.id) this.progress.set(id, newProgress(next, now));
    }
    // Raft §8 / §5.4.2: a no-op of the new term lets earlier terms' entries commit (by counting this one). Until
    // it is committed, this leader does not know the commit index: no reads, no membership changes (§6.4, §4.1).
    // (Set before setLeader, which dispatches waiting requests.)
    this.leaderReadyIndex = this.appendLocal({ type: 'noop' });
    this.setLeader(this.id);
    this.flush();
    this.heartbeatTimer = this.timer(() => this.onHeartbeat(), this.heartbeatMs);
    this.quorumTimer = this.timer(() => this.onCheckQuorum(), this.electionMax);
    this.emitStatus();
  }

  private onHeartbeat(): void {
    this.heartbeatTimer = undefined;
    if (this.role !== 'leader' || this.stopped) return;
    for (const peer of this.progress.keys()) this.sendAppend(peer, true);
    this.maybePromote();
    this.heartbeatTimer = this.timer(() => this.onHeartbeat(), this.heartbeatMs);
  }

  /** Check-quorum (§6.2): a leader that has not heard from a majority of voters within an election timeout steps
   *  down, so a leader cut off in a minority stops accepting proposals that could never commit. */
  private onCheckQuorum(): void {
    this.quorumTimer = undefined;
    if (this.role !== 'leader' || this.stopped) return;
    const now = this.clock.now();
    let heard = 0;
    for (const v of this.config.voters) {
      if (v === this.id) heard++;
      else if (now - (this.progress.get(v)?.lastAck ?? -Infinity) <= this.electionMax) heard++;
    }
    if (heard < this.quorum()) {
      this.log_('warn', `stepping down in term ${this.term}: heard from ${heard} of ${this.config.voters.length} voters within ${this.electionMax} ms`);
      this.becomeFollower(undefined);
      return;
    }
    this.quorumTimer = this.timer(() => this.onCheckQuorum(), this.electionMax);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Elections (Raft §5.2, §5.4.1; pre-vote §9.6; disruptive servers §4.2.3).

  private onVote(from: string, m: VoteRequest): void {
    const now = this.clock.now();
    // §4.2.3: within the minimum election timeout of hearing from a current leader (or while leader), neither grant
    // a vote nor adopt the candidate's term: a rejoining or removed server cannot depose a leader that is working.
    const leaseActive = this.role === 'leader' || now - this.lastLeaderContact < this.electionMin;
    const logOk = m.lastTerm > this.lastTerm || (m.lastTerm === this.lastTerm && m.lastIndex >= this.lastIndex);
    if (m.pre) {
      const granted = m.term > this.term && logOk && !leaseActive;
      this.send(from, { type: 'voteResponse', term: granted ? m.term : this.term, pre: true, granted });
      return;
    }
    if (m.term > this.term) {
      if (leaseActive) {
        this.send(from, { type: 'voteResponse', term: this.term, pre: false, granted: false });
        return;
      }
      this.adoptTerm(m.term, undefined);
    }
    let granted = false;
    if (m.term === this.term && (this.votedFor === null || this.votedFor === from) && logOk) {
      if (this.votedFor !== from) this.saveTermVote(this.term, from); // Raft §5.2: the vote is durable before it is granted
      granted = true;
      this.resetElectionTimer();
    }
    this.send(from, { type: 'voteResponse', term: this.term, pre: false, granted });
  }

  private onVoteResponse(from: string, m: VoteResponse): void {
    if (m.term > this.term && !(m.pre && m.granted)) {
      this.adoptTerm(m.term, undefined);
      return;
    }
    if (!m.granted || !this.isVoter(from)) return;
    if (m.pre) {
      if (this.role !== 'precandidate' || m.term !== this.term + 1) return;
      this.votes.add(from);
      if (this.voteCount() >= this.quorum()) this.campaign(false);
    } else {
      if (this.role !== 'candidate' || m.term !== this.term) return;
      this.votes.add(from);
      if (this.voteCount() >= this.quorum()) this.becomeLeader();
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Log replication, follower side (Raft §5.3, Figure 2 AppendEntries receiver).

  /** A message from the leader of term `term` (>= ours): follow it. */
  private acceptLeader(from: string, term: number): void {
    if (term > this.term || this.role !== 'follower') this.adoptTerm(term, from);
    else this.setLeader(from);
    this.lastLeaderContact = this.clock.now();
    this.resetElectionTimer();
  }

  private onAppend(from: string, m: AppendRequest): void {
    if (m.term < this.term) {
      this.send(from, appendResponse(this.term, false, 0, 0, 0, this.lastIndex, m.seq));
      return;
    }
    this.acceptLeader(from, m.term);
    let prevIndex = m.prevIndex;
    let prevTerm = m.prevTerm;
    let entries = m.entries;
    const proven = m.prevIndex + m.entries.length;
    if (prevIndex < this.snapIndex) {
      // The prefix up to our snapshot is committed, hence identical to the leader's: skip it.
      entries = entries.filter((e) => e.index > this.snapIndex);
      prevIndex = this.snapIndex;
      prevTerm = this.snapTerm;
      if (entries.length === 0) {
        this.send(from, appendResponse(this.term, true, proven, 0, 0, this.lastIndex, m.seq));
        return;
      }
    }
    if (prevIndex > this.lastIndex) {
      this.send(from, appendResponse(this.term, false, 0, this.lastIndex + 1, 0, this.lastIndex, m.seq));
      return;
    }
    const localPrevTerm = this.termAt(prevIndex)!;
    if (localPrevTerm !== prevTerm) {
      // Fast back-off (§5.3): report the conflicting term and where it starts, so the leader skips it in one step.
      let first = prevIndex;
      while (first - 1 > this.snapIndex && this.termAt(first - 1) === localPrevTerm) first--;
      this.send(from, appendResponse(this.term, false, 0, first, localPrevTerm, this.lastIndex, m.seq));
      return;
    }
    // Skip entries we already have; truncate at the first conflict only (never on a stale, shorter request).
    let i = 0;
    for (; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.index > this.lastIndex) break;
      if (this.termAt(e.index) !== e.term) {
        if (e.index <= this.commitIndex) {
          this.log_('error', `refusing to truncate committed entry ${e.index} (leader ${from}, term ${m.term})`);
          return;
        }
        this.truncateFrom(e.index);
        break;
      }
    }
    if (i < entries.length) {
      const fresh = entries.slice(i);
      this.storage.append(fresh); // durable before the reply (Raft §5.3 / Figure 2)
      let configChanged = false;
      for (const e of fresh) {
        this.log.push(e);
        if (e.type === 'config') configChanged = true;
        else if (e.type === 'command' && e.rid !== undefined) this.remember(e.rid, e.index, e.term);
      }
      this.persistedIndex = this.lastIndex;
      if (configChanged) this.recomputeConfig();
      if (configChanged) this.emitStatus();
    }
    const lastNew = prevIndex + entries.length;
    if (m.commit > this.commitIndex) {
      this.commitIndex = Math.max(this.commitIndex, Math.min(m.commit, lastNew));
      this.applyCommitted();
    }
    this.send(from, appendResponse(this.term, true, Math.max(proven, lastNew), 0, 0, this.lastIndex, m.seq));
  }

  private truncateFrom(index: number): void {
    this.storage.truncateFrom(index);
    this.log.length = index - this.snapIndex - 1;
    this.persistedIndex = Math.min(this.persistedIndex, this.lastIndex);
    if (this.configIndex >= index) {
      this.recomputeConfig();
      this.emitStatus();
    }
  }

  private onSnapshot(from: string, m: SnapshotRequest): void {
    if (m.term < this.term) {
      this.send(from, { type: 'snapshotResponse', term: this.term, matchIndex: 0 });
      return;
    }
    this.acceptLeader(from, m.term);
    const s = m.snapshot;
    if (s.index > this.commitIndex) {
      // Raft §7: keep the log after the snapshot only if it holds the snapshot's last entry; otherwise discard it.
      const retained = this.termAt(s.index) === s.term ? this.log.filter((e) => e.index > s.index) : [];
      this.storage.saveSnapshot(s, retained);
      this.snap = s;
      this.log = retained;
      this.persistedIndex = this.lastIndex;
      this.commitIndex = s.index;
      this.lastApplied = s.index;
      this.recomputeConfig();
      this.options.restore(s.data);
      this.log_('info', `installed snapshot at ${s.index} (term ${s.term}) from ${from}`);
      // Requests waiting for an index the snapshot covers cannot tell whether their entry is in it.
      for (const [index, reqs] of this.pendingByIndex) {
        if (index > s.index) continue;
        for (const req of reqs.slice()) {
          if (req.op.kind === 'read') this.succeed(req, index);
          else this.fail(req, new RaftError('UNKNOWN', `entry ${index} was covered by a snapshot; outcome unknown`, true));
        }
      }
      this.emitStatus();
    }
    this.send(from, { type: 'snapshotResponse', term: this.term, matchIndex: s.index });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Log replication, leader side.

  /** Appends an entry of the current term to the leader's log; it reaches storage in the next flush. */
  private appendLocal(body: { type: 'command'; command: unknown; rid: string } | { type: 'config'; config: Membership } | { type: 'noop' }): number {
    const index = this.lastIndex + 1;
    const entry = { ...body, index, term: this.term } as LogEntry;
    this.log.push(entry);
    if (entry.type === 'config') {
      // §4.1: a server uses the latest membership in its log, committed or not.
      this.config = entry.config;
      this.configIndex = index;
      const now = this.clock.now();
      for (const id of [...entry.config.voters, ...entry.config.learners]) {
        if (id !== this.id && !this.progress.has(id)) this.progress.set(id, newProgress(this.lastIndex, now));
      }
      for (const id of [...this.progress.keys()]) if (!this.isMember(id)) this.progress.delete(id);
      this.emitStatus();
    }
    if (this.flushTimer === undefined) this.flushTimer = this.timer(() => this.flush(), 0);
    return index;
  }

  /** Writes the leader's new entries in one storage call, then sends them: proposals made in the same instant
   *  share one write and one AppendEntries per follower. */
  private flush(): void {
    if (this.flushTimer !== undefined) {
      this.clock.clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    if (this.stopped || this.persistedIndex >= this.lastIndex) return;
    try {
      this.storage.append(this.log.slice(this.persistedIndex - this.snapIndex));
    } catch (error) {
      // (a full or failing disc) the entries stay unwritten, so neither sent nor counted: tried again shortly
      if (!this.stopped && this.flushTimer === undefined) this.flushTimer = this.timer(() => this.flush(), this.heartbeatMs);
      throw error;
    }
    this.persistedIndex = this.lastIndex;
    if (this.role !== 'leader') return;
    for (const peer of this.progress.keys()) this.sendAppend(peer, false);
    this.advanceCommit();
  }

  /**
   * Sends AppendEntries (or InstallSnapshot) to one peer. One batch is outstanding per peer; `heartbeat` sends even
   * when one is (an empty AppendEntries, or a retransmission if the batch has waited a heartbeat interval).
   */
  private sendAppend(peer: string, heartbeat: boolean): void {
    const p = this.progress.get(peer);
    if (p === undefined) return;
    const now = this.clock.now();
    if (p.next <= this.snapIndex) {
      // Raft §7: the entries it needs are compacted: send the snapshot (again, if unanswered for a while).
      if (now - p.snapshotAt < this.snapshotRetryMs) return;
      p.snapshotAt = now;
      this.send(peer, { type: 'snapshot', term: this.term, snapshot: this.snap! });
      return;
    }
    let entries: LogEntry[] = [];
    const inflight = p.inflightEnd > 0;
    if (!inflight || now - p.inflightAt >= this.heartbeatMs) {
      const end = Math.min(this.persistedIndex, p.next - 1 + this.maxBatch);
      if (end >= p.next) entries = this.log.slice(p.next - this.snapIndex - 1, end - this.snapIndex);
    } else if (!heartbeat) {
      return;
    }
    if (entries.length === 0 && !heartbeat) return;
    const prevIndex = p.next - 1;
    const msg: AppendRequest = {
      type: 'append',
      term: this.term,
      prevIndex,
      prevTerm: this.termAt(prevIndex)!,
      entries,
      commit: this.commitIndex,
      seq: this.heartbeatSeq,
    };
    if (entries.length > 0) {
      p.inflightEnd = prevIndex + entries.length;
      p.inflightAt = now;
    }
    this.send(peer, msg);
  }

  private onAppendResponse(from: string, m: AppendResponse): void {
    if (m.term > this.term) {
      this.adoptTerm(m.term, undefined);
      return;
    }
    if (this.role !== 'leader' || m.term !== this.term) return;
    const p = this.progress.get(from);
    if (p === undefined) return;
    p.lastAck = this.clock.now();
    if (m.seq > p.ackedSeq) {
      p.ackedSeq = m.seq;
      this.checkReads();
    }
    if (m.success) {
      if (m.matchIndex > p.match) p.match = m.matchIndex;
      if (p.match + 1 > p.next) p.next = p.match + 1;
      if (p.inflightEnd > 0 && m.matchIndex >= p.inflightEnd) p.inflightEnd = 0;
      this.advanceCommit();
      if (this.role !== 'leader') return;
      this.maybePromote();
    } else {
      if (m.lastIndex < p.match) {
        // It has fewer entries than it acknowledged: a ram learner restarted empty (or an old reply overtook).
        this.log_('debug', `${from} reports a log shorter than it acknowledged (${p.match} -> ${m.lastIndex}): a restarted ram node, or a reordered reply`);
        p.match = m.lastIndex;
      }
      let next = m.conflictIndex;
      if (m.conflictTerm > 0) {
        // Fast back-off (§5.3): if we have entries of the conflicting term, resume after our last one of them.
        for (let i = this.lastIndex; i > this.snapIndex; i--) {
          const t = this.termAt(i)!;
          if (t === m.conflictTerm) {
            next = i + 1;
            break;
          }
          if (t < m.conflictTerm) break;
        }
      }
      p.next = Math.max(p.match + 1, Math.min(next, this.lastIndex + 1), 1);
      p.inflightEnd = 0;
    }
    if (p.next <= this.persistedIndex && p.inflightEnd === 0) this.sendAppend(from, false);
  }

  private onSnapshotResponse(from: string, m: SnapshotResponse): void {
    if (m.term > this.term) {
      this.adoptTerm(m.term, undefined);
      return;
    }
    if (this.role !== 'leader' || m.term !== this.term) return;
    const p = this.progress.get(from);
    if (p === undefined) return;
    p.lastAck = this.clock.now();
    p.snapshotAt = -Infinity;
    if (m.matchIndex > p.match) p.match = m.matchIndex;
    p.next = Math.max(p.next, p.match + 1);
    p.inflightEnd = 0;
    this.advanceCommit();
    this.sendAppend(from, false);
  }

  /** Raft §5.3/§5.4.2: commit the highest index stored on a majority of voters, if that entry is of the current
   *  term (entries of earlier terms are committed only indirectly, by a later one). */
  private advanceCommit(): void {
    if (this.role !== 'leader') return;
    const matches: number[] = [];
    for (const v of this.config.voters) {
      matches.push(v === this.id ? this.persistedIndex : (this.progress.get(v)?.match ?? 0));
    }
    if (matches.length === 0) return;
    matches.sort((a, b) => b - a);
    const n = matches[this.quorum() - 1]!;
    if (n <= this.commitIndex || this.termAt(n) !== this.term) return;
    this.commitIndex = n;
    this.applyCommitted();
    if (this.role !== 'leader') return;
    // §4.2.2: a leader that is no longer a voter in the committed membership steps down.
    if (!this.isVoter() && this.configIndex <= this.commitIndex) {
      this.log_('info', `stepping down: no longer a voter (${describe(this.config)})`);
      this.becomeFollower(undefined);
      return;
    }
    // Tell followers the new commit index promptly (it also rides on the next heartbeat).
    for (const peer of this.progress.keys()) {
      const p = this.progress.get(peer)!;
      if (p.inflightEnd === 0) this.sendAppend(peer, true);
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Applying committed entries; compaction.

  private applyCommitted(): void {
    while (this.lastApplied < this.commitIndex && !this.stopped) {
      const index = this.lastApplied + 1;
      const entry = this.entryAt(index);
      if (entry === undefined) throw new Error(`raft ${this.id}: committed entry ${index} missing`);
      this.lastApplied = index;
      if (entry.type === 'command') {
        try {
          this.options.apply(entry.command, index);
        } catch (error) {
          this.log_('error', `apply of entry ${index} threw: ${String(error)}`);
        }
        // Our own request, whatever became of the leader's answer (it may have been lost).
        const own = entry.rid === undefined ? undefined : this.requests.get(entry.rid);
        if (own !== undefined) this.succeed(own, index);
      }
      const reqs = this.pendingByIndex.get(index);
      if (reqs !== undefined) {
        for (const req of reqs.slice()) {
          if (req.term === entry.term || req.term === -1) this.succeed(req, index);
          else this.fail(req, new RaftError('LOST', `entry ${index} was replaced by another leader's entry; not committed`, false));
        }
      }
    }
    this.maybeCompact();
  }

  private maybeCompact(): void {
    if (this.lastApplied - this.snapIndex < this.snapshotThreshold || this.stopped) return;
    this.flush();
    const index = this.lastApplied;
    let data: unknown;
    try {
      data = this.options.snapshot();
    } catch (error) {
      this.log_('error', `snapshot() threw, log not compacted: ${String(error)}`);
      return;
    }
    const snapshot: Snapshot = { index, term: this.termAt(index)!, config: this.configAt(index), data };
    const retained = this.log.slice(index - this.snapIndex);
    try {
      this.storage.saveSnapshot(snapshot, retained);
    } catch (error) {
      // (a full or failing disc) the log stays as it is; compaction is tried again after the next applied entries
      this.log_('warn', `log not compacted: the snapshot could not be written: ${String(error)}`);
      return;
    }
    this.snap = snapshot;
    this.log = retained;
    this.log_('debug', `snapshot at ${index}; ${retained.length} entries kept`);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Requests: propose / membership changes, local or forwarded to the leader.

  private submit(op: ForwardOp, timeoutMs?: number): Promise<{ index: number }> {
    if (this.stopped) return Promise.reject(new RaftError('STOPPED', `raft node ${this.id} is stopped`, false));
    return new Promise((resolve, reject) => {
      const req: Request = {
        op,
        requestId: `${this.id}/${this.incarnation}/${++this.requestSeq}`,
        submittedAt: this.clock.now(),
        resolve,
        reject,
        timer: undefined,
        state: 'waiting',
        target: undefined,
        index: 0,
        term: 0,
        submitted: false,
        lastRefusal: '',
      };
      this.requests.set(req.requestId, req);
      req.timer = this.timer(() => this.onRequestTimeout(req), timeoutMs ?? this.proposeTimeoutMs);
      this.dispatch(req);
    });
  }

  private onRequestTimeout(req: Request): void {
    req.timer = undefined;
    if (!this.requests.has(req.requestId)) return;
    if (req.state === 'retry') this.fail(req, new RaftError('BUSY', `${req.lastRefusal} (gave up after ${this.clock.now() - req.submittedAt} ms)`, req.submitted));
    else if (!req.submitted) this.fail(req, new NoLeaderError());
    else this.fail(req, new RaftError('TIMEOUT', `not committed within ${this.clock.now() - req.submittedAt} ms; it may still be`, true));
  }

  private dispatch(req: Request): void {
    if (this.stopped || !this.requests.has(req.requestId)) return;
    const now = this.clock.now();
    if (this.role === 'leader' && req.op.kind === 'read') {
      req.state = 'forwarded'; // waiting for the heartbeat round
      req.target = this.id;
      const started = this.leaderRead((index) => {
        if (!this.requests.has(req.requestId) || req.target !== this.id) return;
        if (index === undefined) this.onRefused(req, 'NOT_LEADER', 'lost leadership');
        else this.setPending(req, index, -1);
      });
      if (!started) this.onRefused(req, 'BUSY', 'the new leader has not committed an entry of its term yet');
      return;
    }
    if (this.role === 'leader') {
      const result = this.leaderAppend(req.op, req.requestId);
      if ('error' in result) return this.onRefused(req, result.code, result.error);
      this.setPending(req, result.index, result.term);
      return;
    }
    if (this.leaderId !== undefined && this.leaderId !== this.id) {
      req.state = 'forwarded';
      req.target = this.leaderId;
      req.submitted = req.op.kind !== 'read'; // a read changes nothing: its failures are never of unknown outcome
      const msg: ForwardRequest = { type: 'forward', term: this.term, requestId: req.requestId, op: req.op };
      this.send(this.leaderId, msg);
      return;
    }
    // No leader known: wait for one, but not longer than leaderWaitMs from the request's start.
    if (now - req.submittedAt >= this.leaderWaitMs) {
      if (!req.submitted) return this.fail(req, new NoLeaderError());
      return this.fail(req, new NoLeaderError('no leader: no disc node reachable to confirm the change; it may still be committed', true));
    }
    req.state = 'waiting';
    req.target = undefined;
    this.timer(() => {
      if (req.state === 'waiting') this.dispatch(req);
    }, req.submittedAt + this.leaderWaitMs - now);
  }

  private dispatchWaiting(): void {
    for (const req of [...this.requests.values()]) if (req.state === 'waiting') this.dispatch(req);
  }

  private onRefused(req: Request, code: 'NOT_LEADER' | 'REFUSED' | 'BUSY', message: string): void {
    // This attempt appended nothing. `submitted` stays as it was: if the network duplicated an earlier forward, a
    // copy may have been appended when the target was leader, so after any forward the outcome stays unknown.
    if (code === 'REFUSED') return this.fail(req, new RaftError('REFUSED', message, false));
    if (code === 'NOT_LEADER') {
      req.state = 'waiting';
      this.dispatch(req);
      return;
    }
    // BUSY: another membership change (or the new leader's first commit, or a new voter's catch-up) is in
    // progress: retry shortly.
    req.state = 'retry';
    req.lastRefusal = message;
    this.timer(() => {
      if (req.state === 'retry') this.dispatch(req);
    }, this.heartbeatMs);
  }

  private setPending(req: Request, index: number, term: number): void {
    req.state = 'pending';
    req.submitted = true;
    req.index = index;
    req.term = term;
    if (term === -1 && index <= this.lastApplied) return this.succeed(req, Math.max(index, 0));
    if (index <= this.lastApplied) {
      // Already applied here (the answer came late): decide from the log if we still have the entry.
      const t = this.termAt(index);
      if (t === undefined || index === this.snapIndex) this.fail(req, new RaftError('UNKNOWN', `entry ${index} already compacted; outcome unknown`, true));
      else if (t === term) this.succeed(req, index);
      else this.fail(req, new RaftError('LOST', `entry ${index} was replaced by another leader's entry; not committed`, false));
      return;
    }
    let list = this.pendingByIndex.get(index);
    if (list === undefined) this.pendingByIndex.set(index, (list = []));
    list.push(req);
  }

  private forget(req: Request): void {
    this.requests.delete(req.requestId);
    if (req.timer !== undefined) this.clock.clearTimeout(req.timer);
    req.timer = undefined;
    if (req.state === 'pending') {
      const list = this.pendingByIndex.get(req.index);
      if (list !== undefined) {
        const i = list.indexOf(req);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.pendingByIndex.delete(req.index);
      }
    }
    req.state = 'waiting';
    req.target = undefined;
  }

  private succeed(req: Request, index: number): void {
    this.forget(req);
    req.resolve({ index });
  }

  private fail(req: Request, error: Error): void {
    this.forget(req);
    req.reject(error);
  }

  /** On the leader: appends a command or a membership change for a request (local or forwarded). Deduplicates a
   *  forwarded request delivered twice. */
  private leaderAppend(op: ForwardOp, requestId: string): { index: number; term: number } | { error: string; code: 'REFUSED' | 'BUSY' } {
    const seen = this.dedup.get(requestId);
    if (seen !== undefined) return seen;
    let index: number;
    if (op.kind === 'read') throw new Error('leaderAppend: a read appends nothing');
    if (op.kind === 'command') {
      index = this.appendLocal({ type: 'command', command: op.command, rid: requestId });
    } else {
      const current = this.config.voters.includes(op.id) ? 'voter' : this.config.learners.includes(op.id) ? 'learner' : 'absent';
      const promoting = this.config.promoting?.includes(op.id) === true;
      let next: Membership | undefined;
      if (op.role === 'voter') {
        // §4.2.1: a new voter first catches up as a learner. Asking for a voter that has not caught up (or is not
        // running yet: join_cluster before start_app) records the wish in the membership (`promoting`); a leader
        // promotes it as soon as it has the committed log and answers. So a disc node that cannot be reached never
        // becomes a voter the majority would have to wait for.
        if (current !== 'voter') {
          if (op.id === this.id || this.caughtUp(op.id)) next = withRole(this.config, op.id, 'voter');
          else if (!promoting) next = withRole(this.config, op.id, 'learner', true);
        }
      } else if (current !== op.role || promoting) {
        next = withRole(this.config, op.id, op.role);
      }
      // Already so: nothing to append. Wait for the entry that made it so (term -1: it is committed already).
      if (next === undefined) {
        return { index: this.configIndex, term: this.configIndex <= this.commitIndex ? -1 : (this.termAt(this.configIndex) ?? -1) };
      }
      if (next.voters.length === 0) {
        return { code: 'REFUSED', error: `refusing to make ${op.id} ${op.role === 'absent' ? 'leave the cluster' : 'a ram node'}: it is the last disc node (voter) and the cluster needs at least one` };
      }
      if (!this.configChangeAllowed()) return { code: 'BUSY', error: 'another membership change is in progress' };
      index = this.appendLocal({ type: 'config', config: next });
      this.log_('info', `membership change at ${index}: ${op.id} -> ${op.role}${next.promoting?.includes(op.id) === true ? ' once caught up' : ''} (${describe(next)})`);
    }
    this.remember(requestId, index, this.term);
    return { index, term: this.term };
  }

  private remember(requestId: string, index: number, term: number): void {
    this.dedup.set(requestId, { index, term });
    if (this.dedup.size > DEDUP_LIMIT) this.dedup.delete(this.dedup.keys().next().value!);
  }

  /** §4.1: one change at a time: the previous membership must be committed, and (the dissertation's fix) this
   *  leader must have committed an entry of its own term first. */
  private configChangeAllowed(): boolean {
    return this.role === 'leader' && this.configIndex <= this.commitIndex && this.commitIndex >= this.leaderReadyIndex;
  }

  /**
   * ReadIndex (§6.4): once this leader has committed an entry of its term, its commit index covers every entry
   * committed before; a heartbeat round answered by a majority then proves nobody else leads. `done` gets that
   * commit index, or undefined if leadership was lost first. Returns false if not ready (no own-term commit yet).
   */
  private leaderRead(done: (index: number | undefined) => void): boolean {
    if (this.role !== 'leader' || this.commitIndex < this.leaderReadyIndex) return false;
    const seq = ++this.heartbeatSeq;
    this.pendingReads.push({ seq, readIndex: this.commitIndex, done });
    for (const peer of this.progress.keys()) this.sendAppend(peer, true);
    this.checkReads();
    return true;
  }

  private checkReads(): void {
    if (this.pendingReads.length === 0 || this.role !== 'leader') return;
    const acked = this.config.voters.map((v) => (v === this.id ? Infinity : (this.progress.get(v)?.ackedSeq ?? 0)));
    acked.sort((a, b) => b - a);
    const confirmed = acked[this.quorum() - 1] ?? 0;
    const ready = this.pendingReads.filter((r) => r.seq <= confirmed);
    if (ready.length === 0) return;
    this.pendingReads = this.pendingReads.filter((r) => r.seq > confirmed);
    for (const r of ready) r.done(r.readIndex);
  }

  /** A learner that holds the committed log and has answered within an election timeout. */
  private caughtUp(id: string): boolean {
    const p = this.progress.get(id);
    return p !== undefined && p.match >= this.commitIndex && this.clock.now() - p.lastAck <= this.electionMax;
  }

  /** Promotes a learner marked `promoting` once it has caught up (on the leader, one change at a time). */
  private maybePromote(): void {
    const pending = this.config.promoting;
    if (pending === undefined || pending.length === 0 || !this.configChangeAllowed()) return;
    const id = pending.find((p) => this.caughtUp(p));
    if (id === undefined) return;
    const next = withRole(this.config, id, 'voter');
    const index = this.appendLocal({ type: 'config', config: next });
    this.log_('info', `membership change at ${index}: ${id} caught up and becomes a voter (${describe(next)})`);
  }

  private onForward(from: string, m: ForwardRequest): void {
    const reply = (r: { ok: true; index: number; entryTerm: number } | { ok: false; code: 'NOT_LEADER' | 'REFUSED' | 'BUSY'; message: string }): void => {
      const msg: ForwardResponse = { type: 'forwardResponse', term: this.term, requestId: m.requestId, ...r };
      this.send(from, msg);
    };
    if (m.op.kind === 'read') {
      if (this.role !== 'leader') {
        reply({ ok: false, code: 'NOT_LEADER', message: `${this.id} is not the leader` });
        return;
      }
      const started = this.leaderRead((index) => {
        if (index === undefined) reply({ ok: false, code: 'NOT_LEADER', message: `${this.id} lost leadership` });
        else reply({ ok: true, index, entryTerm: -1 });
      });
      if (!started) reply({ ok: false, code: 'BUSY', message: 'the new leader has not committed an entry of its term yet' });
      return;
    }
    // A copy of a forward this node appended before (the network duplicated it): the same answer again.
    const seen = this.dedup.get(m.requestId);
    if (seen !== undefined) {
      reply({ ok: true, index: seen.index, entryTerm: seen.term });
      return;
    }
    // A forward from an earlier term (delayed or duplicated in the network) is refused, so that a command is not
    // appended again by a node that became leader later.
    if (this.role !== 'leader' || m.term !== this.term) {
      reply({ ok: false, code: 'NOT_LEADER', message: `${this.id} is not the leader of term ${m.term}` });
      return;
    }
    const result = this.leaderAppend(m.op, m.requestId);
    if ('error' in result) reply({ ok: false, code: result.code, message: result.error });
    else reply({ ok: true, index: result.index, entryTerm: result.term });
  }

  private onForwardResponse(from: string, m: ForwardResponse): void {
    if (m.term > this.term) this.adoptTerm(m.term, undefined);
    const req = this.requests.get(m.requestId);
    if (req === undefined || req.state !== 'forwarded' || req.target !== from) return;
    if (m.ok) {
      this.setPending(req, m.index, m.entryTerm);
      return;
    }
    if (m.code === 'NOT_LEADER' && this.leaderId === from) this.setLeader(undefined);
    this.onRefused(req, m.code, m.message);
  }

  // ---------------------------------------------------------------------------------------------------------------

  /** Runs a handler; an exception other than a failed storage write stops the node: continuing with memory that no
   *  longer matches the disc could break the guarantees. The owner hears of it through onFatal. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      if (this.stopped) return;
      if (isStorageFault(error)) {
        // A write to storage failed (ENOSPC, EIO): every handler writes before it changes memory or answers, so
        // nothing was acknowledged, granted or counted, and memory still matches the disc. The node goes on: a
        // leader retries its unwritten entries, a follower's leader resends, a candidate campaigns again.
        this.log_('warn', `storage write failed, nothing acknowledged: ${(error as Error).message}`);
        return;
      }
      const err = error instanceof Error ? error : new Error(String(error));
      this.log_('error', `stopping after an internal failure: ${err.stack ?? err.message}`);
      this.stop();
      try {
        this.options.onFatal?.(err);
      } catch {
        // the owner's problem
      }
    }
  }

  private timer(fn: () => void, delayMs: number): TimerHandle {
    return this.clock.setTimeout(() => this.guard(fn), delayMs);
  }

  private send(to: string, msg: RaftMessage): void {
    try {
      this.transport.send(to, msg);
    } catch (error) {
      this.log_('debug', `sending ${msg.type} to ${to} failed: ${String(error)}`);
    }
  }

  private publicRole(): RaftRole {
    if (this.stopped) return 'stopped';
    if (this.role === 'leader') return 'leader';
    if (this.role === 'candidate') return 'candidate';
    return this.isVoter() ? 'follower' : 'learner';
  }

  private emitStatus(): void {
    const cb = this.options.onStatusChange;
    if (cb === undefined || !this.started) return;
    const key = `${this.publicRole()}|${this.term}|${this.leaderId}|${this.configIndex}`;
    if (key === this.lastStatusKey) return;
    this.lastStatusKey = key;
    try {
      cb(this.status());
    } catch (error) {
      this.log_('error', `onStatusChange threw: ${String(error)}`);
    }
  }

  private log_(level: 'debug' | 'info' | 'warn' | 'error', message: string): void {
    this.logger?.[level](`raft ${this.id}: ${message}`);
  }
}

function newProgress(next: number, now: number): Progress {
  return { next, match: 0, inflightEnd: 0, inflightAt: -Infinity, snapshotAt: -Infinity, lastAck: now, ackedSeq: 0 };
}

function appendResponse(term: number, success: boolean, matchIndex: number, conflictIndex: number, conflictTerm: number, lastIndex: number, seq: number): AppendResponse {
  return { type: 'appendResponse', term, success, matchIndex, conflictIndex, conflictTerm, lastIndex, seq };
}

function normalize(m: Membership): Membership {
  const voters = [...new Set(m.voters)].sort();
  const learners = [...new Set(m.learners)].filter((id) => !voters.includes(id)).sort();
  const promoting = [...new Set(m.promoting ?? [])].filter((id) => learners.includes(id)).sort();
  return promoting.length > 0 ? { voters, learners, promoting } : { voters, learners };
}

/** The membership with `id` as voter, learner (to be promoted once caught up if `promote`), or absent. */
function withRole(m: Membership, id: string, role: MemberRole, promote = false): Membership {
  const voters = m.voters.filter((v) => v !== id);
  const learners = m.learners.filter((v) => v !== id);
  const promoting = (m.promoting ?? []).filter((v) => v !== id);
  if (role === 'voter') voters.push(id);
  if (role === 'learner') learners.push(id);
  if (role === 'learner' && promote) promoting.push(id);
  return normalize({ voters, learners, promoting });
}

function describe(m: Membership): string {
  const promoting = m.promoting !== undefined && m.promoting.length > 0 ? ` (to be voters: ${m.promoting.join(', ')})` : '';
  return `voters [${m.voters.join(', ')}]${m.learners.length > 0 ? `, learners [${m.learners.join(', ')}]${promoting}` : ''}`;
}

/** An error from a storage write (an errno code: ENOSPC, EIO, ...), which the handlers make before changing state. */
function isStorageFault(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code);
}
