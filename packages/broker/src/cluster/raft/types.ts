// Data types of the Raft core: log entries, snapshots, membership, the messages nodes exchange, and errors.
// Section references are to Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm" (extended
// version), and "§4.x" / "§9.6" to Ongaro's dissertation "Consensus: Bridging Theory and Practice".

/** Who takes part. Voters (disc nodes) elect leaders and count for commitment; learners (ram nodes) only follow. */
export interface Membership {
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  /** Learners to be promoted to voters by the leader once they have caught up (§4.2.1); absent when none. */
  readonly promoting?: readonly string[];
}

export const EMPTY_MEMBERSHIP: Membership = Object.freeze({ voters: Object.freeze([]), learners: Object.freeze([]) });

/** A log entry (Raft §5.3). `command` entries carry a broker command (and the id of the request that proposed it,
 *  so the proposing node recognises it when it applies it); `config` entries a membership (§4.1); `noop` is what a
 *  new leader appends to commit earlier terms' entries (§5.4.2, §8). */
export type LogEntry =
  | { readonly index: number; readonly term: number; readonly type: 'command'; readonly command: unknown; readonly rid?: string }
  | { readonly index: number; readonly term: number; readonly type: 'config'; readonly config: Membership }
  | { readonly index: number; readonly term: number; readonly type: 'noop' };

/** A snapshot (Raft §7): the state machine after applying every entry up to `index`, and the membership then. */
export interface Snapshot {
  readonly index: number;
  readonly term: number;
  readonly config: Membership;
  readonly data: unknown;
}

/** What storage hands back on start. `entries` follow the snapshot without gaps (first index = snapshot.index + 1). */
export interface StoredState {
  term: number;
  votedFor: string | null;
  snapshot: Snapshot | undefined;
  entries: LogEntry[];
}

// ---- Messages (Raft Figure 2, §7 InstallSnapshot, §9.6 PreVote, plus leader forwarding) ----

export interface AppendRequest {
  readonly type: 'append';
  readonly term: number;
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly LogEntry[];
  readonly commit: number;
  /** Heartbeat round, echoed in the response: confirms leadership for reads (§6.4). */
  readonly seq: number;
}

export interface AppendResponse {
  readonly type: 'appendResponse';
  readonly term: number;
  readonly success: boolean;
  /** On success: prevIndex + entries.length (what this request proved to match). */
  readonly matchIndex: number;
  /** On failure (fast back-off, §5.3): first index of conflictTerm in the follower's log, or its lastIndex + 1. */
  readonly conflictIndex: number;
  readonly conflictTerm: number;
  /** The follower's last log index (lets the leader notice a learner that lost its log on restart). */
  readonly lastIndex: number;
  /** The request's seq. */
  readonly seq: number;
}

export interface VoteRequest {
  readonly type: 'vote';
  /** For a pre-vote (§9.6), the term the candidate would campaign in; its own term is not changed. */
  readonly term: number;
  readonly pre: boolean;
  readonly lastIndex: number;
  readonly lastTerm: number;
}

export interface VoteResponse {
  readonly type: 'voteResponse';
  readonly term: number;
  readonly pre: boolean;
  readonly granted: boolean;
}

export interface SnapshotRequest {
  readonly type: 'snapshot';
  readonly term: number;
  readonly snapshot: Snapshot;
}

export interface SnapshotResponse {
  readonly type: 'snapshotResponse';
  readonly term: number;
  readonly matchIndex: number;
}

export type MemberRole = 'voter' | 'learner' | 'absent';

export type ForwardOp =
  | { readonly kind: 'command'; readonly command: unknown }
  | { readonly kind: 'member'; readonly id: string; readonly role: MemberRole }
  /** ReadIndex (§6.4): the leader answers with its commit index once a majority confirmed it is still leader. */
  | { readonly kind: 'read' };

/** A proposal or membership change sent by a non-leader to the leader it knows. */
export interface ForwardRequest {
  readonly type: 'forward';
  readonly term: number;
  readonly requestId: string;
  readonly op: ForwardOp;
}

export type ForwardResponse =
  | { readonly type: 'forwardResponse'; readonly term: number; readonly requestId: string; readonly ok: true; readonly index: number; readonly entryTerm: number }
  | { readonly type: 'forwardResponse'; readonly term: number; readonly requestId: string; readonly ok: false; readonly code: 'NOT_LEADER' | 'REFUSED' | 'BUSY'; readonly message: string };

export type RaftMessage =
  | AppendRequest
  | AppendResponse
  | VoteRequest
  | VoteResponse
  | SnapshotRequest
  | SnapshotResponse
  | ForwardRequest
  | ForwardResponse;

/** How Raft messages leave a node. The owner delivers incoming ones with `raft.receive(from, msg)`. Delivery may
 *  lose, delay, duplicate and reorder messages; Raft copes. `send` must not call back into the node synchronously. */
export interface RaftTransport {
  send(to: string, msg: RaftMessage): void;
}

// ---- Errors ----

export type RaftErrorCode =
  /** No leader known (no majority of disc nodes reachable); the change was not submitted. */
  | 'NO_LEADER'
  /** Submitted, but not confirmed in time: it may still be committed later. */
  | 'TIMEOUT'
  /** Submitted, but another entry was committed at its index: it will never be applied. */
  | 'LOST'
  /** Refused by the leader (e.g. a change that would leave no voter); not submitted. */
  | 'REFUSED'
  /** Another membership change is in progress and did not finish in time; not submitted. */
  | 'BUSY'
  /** The node was stopped; outcome unknown if it had been submitted. */
  | 'STOPPED'
  /** Submitted, and this node cannot tell whether it was committed (e.g. it installed a snapshot past it). */
  | 'UNKNOWN';

export class RaftError extends Error {
  override readonly name: string = 'RaftError';
  constructor(
    readonly code: RaftErrorCode,
    message: string,
    /** True when the command may have been (or may still be) committed despite the error. */
    readonly outcomeUnknown: boolean,
  ) {
    super(message);
  }
}

export class NoLeaderError extends RaftError {
  override readonly name = 'NoLeaderError';
  constructor(detail = 'no leader: no disc node reachable (metadata changes need a majority of the disc nodes)', outcomeUnknown = false) {
    super('NO_LEADER', detail, outcomeUnknown);
  }
}
