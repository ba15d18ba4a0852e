// Network partitions between cluster nodes: detection for cluster_status, and RabbitMQ's handling modes.
//
// A partition is a peer that was unreachable while it kept running: when its link comes back with the same
// incarnation (the peer did not restart), this node was cut off from it, not left by it. Such peers are listed under
// "Network Partitions" until this node restarts (RabbitMQ lists them until the nodes are restarted).
//
// cluster_partition_handling:
//   ignore          report only. Metadata stays safe either way (the Raft majority decides), queues on each side go on.
//   pause_minority  a node that can reach no more than half of the members (itself included) stops its broker app
//                   (clients are disconnected, listeners closed) and starts it again once it reaches a majority.
//   autoheal        when a partition heals, the nodes that were cut off from the metadata leader's side restart
//                   their app, so every client reconnects to a whole cluster.
import { memberNode, type ClusterService } from './cluster-service.ts';

export type PartitionHandling = 'ignore' | 'pause_minority' | 'autoheal';

/** How often reachability is checked: well under the peer link's dead-peer detection (~2 s). */
export const PARTITION_CHECK_MS = 500;

export class PartitionMonitor {
  private readonly svc: ClusterService;
  readonly mode: PartitionHandling;
  /** incarnation of each peer when its link went down */
  private readonly lost = new Map<string, number>();
  private readonly partitioned = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  /** the app was stopped by pause_minority (not by an operator) */
  paused = false;
  private busy = false;

  constructor(svc: ClusterService, mode: PartitionHandling) {
    this.svc = svc;
    this.mode = mode;
  }

  start(): void {
    if (this.mode === 'ignore' || this.timer !== null) return;
    this.timer = setInterval(() => void this.check(), PARTITION_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  list(): string[] {
    return [...this.partitioned];
  }

  linkDown(node: string, incarnation: number): void {
    this.lost.set(node, incarnation);
  }

  linkUp(node: string, incarnation: number): void {
    const before = this.lost.get(node);
    this.lost.delete(node);
    if (before === undefined || before !== incarnation) return;
    // it ran all along: we were partitioned from it
    this.partitioned.add(node);
    this.svc.node.broker?.log(`network partition detected: ${node} was unreachable while it kept running`);
    if (this.mode === 'autoheal') void this.autoheal();
  }

  private async check(): Promise<void> {
    if (this.busy || this.mode !== 'pause_minority' || !this.svc.clustered) return;
    const m = this.svc.membership();
    const total = m.voters.length + m.learners.length;
    if (total < 2) return;
    const reachable = this.svc.reachable().length;
    const minority = reachable * 2 <= total;
    this.busy = true;
    try {
      if (minority && this.svc.node.running) {
        this.paused = true;
        this.svc.node.broker?.log(`pause_minority: only ${reachable} of ${total} nodes reachable; pausing this node`);
        await this.svc.node.stopApp();
      } else if (!minority && this.paused && !this.svc.node.running) {
        this.svc.node.broker?.log(`pause_minority: ${reachable} of ${total} nodes reachable again; resuming`);
        await this.svc.node.startApp();
        this.paused = false;
      }
    } catch (err) {
      this.svc.node.broker?.log(`pause_minority: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  /** autoheal: the side without the metadata leader restarts its app. */
  private async autoheal(): Promise<void> {
    const raft = this.svc.raft;
    if (this.busy || raft === null || !this.svc.node.running) return;
    if (raft.isLeader()) return;
    const leader = raft.leader === undefined ? undefined : memberNode(raft.leader);
    // a node that reached the leader throughout was on the winning side
    if (leader !== undefined && !this.partitioned.has(leader)) return;
    this.busy = true;
    try {
      this.svc.node.broker?.log('autoheal: this node was on the losing side of a partition; restarting its app');
      await this.svc.node.stopApp();
      await this.svc.node.startApp();
    } catch (err) {
      this.svc.node.broker?.log(`autoheal: restart failed: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }
}
