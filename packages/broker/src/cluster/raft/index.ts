// Raft for the cluster metadata: see README.md.
export { RaftNode } from './node.ts';
export type { MemberStatus, RaftOptions, RaftRole, RaftStatus } from './node.ts';
export { MemoryStorage } from './storage.ts';
export type { RaftStorage } from './storage.ts';
export { EMPTY_MEMBERSHIP, NoLeaderError, RaftError } from './types.ts';
export type {
  AppendRequest,
  AppendResponse,
  ForwardOp,
  ForwardRequest,
  ForwardResponse,
  LogEntry,
  MemberRole,
  Membership,
  RaftErrorCode,
  RaftMessage,
  RaftTransport,
  Snapshot,
  SnapshotRequest,
  SnapshotResponse,
  StoredState,
  VoteRequest,
  VoteResponse,
} from './types.ts';
export { FileStorage, jsonCodec, nodeRaftFs } from './file-storage.ts';
export type { FileStorageOptions, RaftCodec, RaftFs } from './file-storage.ts';
