// A simulated node's data directory: cluster.json, the Raft log (disc nodes only: the real code keeps a ram node's
// log in memory) and the message store. It outlives the node's objects across a simulated crash. A crash takes a
// copy of it at that instant and gives the copy to the next incarnation, so whatever the dying objects still write
// afterwards (Raft flushing on stop, a queue settling) lands in the discarded original: the disc is fenced, as a
// killed process's later writes would never happen.
import { MemoryStorage, type RaftStorage } from '../../packages/broker/src/cluster/raft/index.ts';
import type { ClusterDisk, ClusterFile, NodeType } from '../../packages/broker/src/cluster/cluster-service.ts';
import type { DurableWaiter, MessageStore, QueueStore, RecoveredMessage } from '../../packages/broker/src/store/message-store.ts';
import type { Message } from '../../packages/broker/src/queue/message.ts';

interface Stored {
  msg: Message;
  delivered: boolean;
}

class SimQueueStore implements QueueStore {
  nextId = 1;
  readonly live = new Map<number, Stored>();
  constructor(
    private readonly owner: SimMessageStore,
    readonly key: string,
  ) {}

  append(msg: Message): number {
    const id = this.nextId++;
    this.live.set(id, { msg, delivered: false });
    return id;
  }
  delivered(id: number): void {
    const e = this.live.get(id);
    if (e) e.delivered = true;
  }
  remove(id: number): void {
    this.live.delete(id);
  }
  purge(): void {
    this.live.clear();
  }
  recover(): RecoveredMessage[] {
    return [...this.live].map(([id, e]) => ({ id, msg: e.msg, redelivered: e.delivered }));
  }
  destroy(): void {
    this.live.clear();
    this.tag = null;
    if (this.owner.queues.get(this.key) === this) this.owner.queues.delete(this.key);
  }
  tag: string | null = null;
  setTag(tag: string | null): void {
    this.tag = tag;
  }
}

/**
 * A message store on a simulated disc: writes are durable at once (an fsync that never fails and takes no time);
 * confirms are batched on the next turn, like MemoryStore's and the segment store's group commit.
 */
export class SimMessageStore implements MessageStore {
  readonly durable = true;
  readonly queues = new Map<string, SimQueueStore>();
  private waiters: [DurableWaiter, number][] = [];
  private scheduled = false;

  hasQueue(vhost: string, name: string): boolean {
    return this.queues.has(`${vhost}\u0000${name}`);
  }

  openQueue(vhost: string, name: string): QueueStore {
    const key = `${vhost}\u0000${name}`;
    let q = this.queues.get(key);
    if (!q) this.queues.set(key, (q = new SimQueueStore(this, key)));
    return q;
  }

  whenDurable(waiter: DurableWaiter, token: number): void {
    this.waiters.push([waiter, token]);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    const w = this.waiters;
    this.waiters = [];
    for (const [waiter, token] of w) waiter.onDurable(token);
  }

  storedQueues(): { vhost: string; name: string }[] {
    return [...this.queues.keys()].map((k) => {
      const [vhost = '', name = ''] = k.split('\u0000');
      return { vhost, name };
    });
  }

  async close(): Promise<void> {
    this.flush();
  }

  /** What is on the disc now, for the next incarnation (pending confirms are not: the process died). */
  copy(): SimMessageStore {
    const out = new SimMessageStore();
    for (const [key, q] of this.queues) {
      const c = new SimQueueStore(out, key);
      c.nextId = q.nextId;
      c.tag = q.tag;
      for (const [id, e] of q.live) c.live.set(id, { msg: e.msg, delivered: e.delivered });
      out.queues.set(key, c);
    }
    return out;
  }

  count(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.live.size;
    return n;
  }
}

function copyRaft(s: MemoryStorage): MemoryStorage {
  const st = s.load();
  const out = new MemoryStorage();
  if (st.snapshot !== undefined) out.saveSnapshot(st.snapshot, st.entries);
  else out.append(st.entries);
  out.saveState(st.term, st.votedFor);
  return out;
}

export class SimDisk implements ClusterDisk {
  private clusterJson: string | null = null;
  private raft: MemoryStorage | null = null;
  messages = new SimMessageStore();

  loadClusterFile(): ClusterFile | null {
    return this.clusterJson === null ? null : (JSON.parse(this.clusterJson) as ClusterFile);
  }

  saveClusterFile(f: ClusterFile | null): void {
    this.clusterJson = f === null ? null : JSON.stringify(f);
  }

  raftStorage(type: NodeType): RaftStorage {
    // a ram node's log is in memory (cluster-service.ts): every start begins empty
    if (type === 'ram') return new MemoryStorage();
    return (this.raft ??= new MemoryStorage());
  }

  wipeRaft(): void {
    this.raft = null;
  }

  /** The node's process dies: the next incarnation gets what is on the disc now, and only that. */
  crash(): void {
    if (this.raft !== null) this.raft = copyRaft(this.raft);
    this.messages = this.messages.copy();
  }
}
