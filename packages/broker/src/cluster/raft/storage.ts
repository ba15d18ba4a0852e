// Persistent Raft state (Raft Figure 2: currentTerm, votedFor, log[]; §7: the latest snapshot). Every method is
// synchronous and durable when it returns: the node calls it BEFORE it answers the RPC or counts the entries, so a
// vote or an acknowledged entry is never forgotten by a voter that crashes and restarts.
import type { LogEntry, Snapshot, StoredState } from './types.ts';

export interface RaftStorage {
  /** Everything stored, as of the last completed write. Called once, when the node is created. */
  load(): StoredState;
  /** currentTerm and votedFor. */
  saveState(term: number, votedFor: string | null): void;
  /** Appends entries; the first follows the last stored entry (or the snapshot) without a gap. */
  append(entries: readonly LogEntry[]): void;
  /** Deletes the stored entries with index >= fromIndex (a conflicting suffix, Raft §5.3). */
  truncateFrom(fromIndex: number): void;
  /** Replaces the snapshot and the whole log with `snapshot` followed by `entries` (compaction, or an installed
   *  snapshot, Raft §7). Atomic: after a crash either the old or the new snapshot and log are loaded. */
  saveSnapshot(snapshot: Snapshot, entries: readonly LogEntry[]): void;
  /** Releases files; the storage is not used afterwards. */
  close(): void;
}

/**
 * Storage in memory. For ram nodes (learners: they get everything back from a disc node when they restart) and for
 * tests. A simulator keeps the same instance across a "crash" of a voter to model a disc that survives it; writes
 * are atomic with respect to crashes because a crash happens between two steps of the simulation.
 */
export class MemoryStorage implements RaftStorage {
  private term = 0;
  private votedFor: string | null = null;
  private snapshot: Snapshot | undefined;
  private entries: LogEntry[] = [];
  /** Counts of each kind of write; tests use them to check that state was persisted before a reply. */
  readonly writes = { state: 0, append: 0, truncate: 0, snapshot: 0 };

  load(): StoredState {
    return { term: this.term, votedFor: this.votedFor, snapshot: this.snapshot, entries: this.entries.slice() };
  }

  saveState(term: number, votedFor: string | null): void {
    this.term = term;
    this.votedFor = votedFor;
    this.writes.state++;
  }

  append(entries: readonly LogEntry[]): void {
    const expected = this.lastIndex() + 1;
    if (entries.length > 0 && entries[0]!.index !== expected) {
      throw new Error(`MemoryStorage.append: entry ${entries[0]!.index} does not follow ${expected - 1}`);
    }
    for (const e of entries) this.entries.push(e);
    this.writes.append++;
  }

  truncateFrom(fromIndex: number): void {
    const base = this.snapshot?.index ?? 0;
    this.entries.length = Math.max(0, Math.min(this.entries.length, fromIndex - base - 1));
    this.writes.truncate++;
  }

  saveSnapshot(snapshot: Snapshot, entries: readonly LogEntry[]): void {
    this.snapshot = snapshot;
    this.entries = entries.slice();
    this.writes.snapshot++;
  }

  close(): void {}

  private lastIndex(): number {
    return (this.snapshot?.index ?? 0) + this.entries.length;
  }
}
