// A simulated node's data directory: cluster.json, the Raft log (disc nodes only: the real code keeps a ram node's
// log in memory) and the message store, both the broker's real code (FileStorage, SegmentStore) on a simulated file
// system (sim-fs.ts) that keeps what was written apart from what was synced. It outlives the node's objects across a simulated crash. A
// crash takes a copy of it at that instant, as a power cut leaves it (the message files lose what was not synced, or
// keep a random prefix of it, or a torn last piece), and gives the copy to the next incarnation, so whatever the
// dying objects still write afterwards (Raft flushing on stop, a queue settling) lands in the discarded original:
// the disc is fenced, as a killed process's later writes would never happen.
import { FileStorage, MemoryStorage, type RaftStorage } from '../../packages/broker/src/cluster/raft/index.ts';
import type { ClusterDisk, ClusterFile, NodeType } from '../../packages/broker/src/cluster/cluster-service.ts';
import { SegmentStore } from '../../packages/broker/src/store/segment-store.ts';
import { SimFs, type Rng } from './sim-fs.ts';

/** where the message store lives on the simulated disc */
const MSGS_DIR = '/data/msgs';
/** and the Raft log of a disc node */
const RAFT_DIR = '/data/raft';

export class SimDisk implements ClusterDisk {
  private clusterJson: string | null = null;
  fs: SimFs;
  messages: SegmentStore;
  private readonly log: (line: string) => void;

  constructor(rng: Rng, log: (line: string) => void) {
    this.fs = new SimFs(rng);
    this.log = log;
    this.messages = new SegmentStore(MSGS_DIR, { fs: this.fs, log });
  }

  loadClusterFile(): ClusterFile | null {
    return this.clusterJson === null ? null : (JSON.parse(this.clusterJson) as ClusterFile);
  }

  saveClusterFile(f: ClusterFile | null): void {
    this.clusterJson = f === null ? null : JSON.stringify(f);
  }

  raftStorage(type: NodeType): RaftStorage {
    // a ram node's log is in memory (cluster-service.ts): every start begins empty
    if (type === 'ram') return new MemoryStorage();
    // (a new FileStorage per start, as cluster-service.ts makes one: it loads what the disc holds)
    return new FileStorage(RAFT_DIR, { fs: this.fs });
  }

  wipeRaft(): void {
    this.fs.removeTree(RAFT_DIR);
  }

  /** The node's process dies: the next incarnation gets what is on the disc now, and only that. */
  crash(): void {
    this.fs = this.fs.crashCopy();
    this.messages = new SegmentStore(MSGS_DIR, { fs: this.fs, log: this.log });
  }
}
